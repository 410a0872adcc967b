#ifndef VAE_MPI_SHIM_H
#define VAE_MPI_SHIM_H
#include <stddef.h>
#include <stdint.h>

// What Swift needs of MPI, as plain functions: MPI's communicators, datatypes and operations
// are macros or opaque handles that Swift cannot import. Every function returns MPI's error
// code (MPI_SUCCESS = 0); errors are returned, not fatal (MPI_ERRORS_RETURN is set at init).

typedef enum { vae_mpi_sum = 0, vae_mpi_max = 1 } vae_mpi_op;

/// Returned by a collective that did not complete before its deadline (not an MPI code).
#define VAE_MPI_TIMED_OUT (-1)

/// Starts MPI; `any_thread` says whether collectives may come from any thread, one at a time,
/// and `one_machine` whether every rank runs on this machine.
int vae_mpi_init(int *any_thread, int *one_machine);
int vae_mpi_rank(int *rank);
int vae_mpi_size(int *size);
/// Element-wise all-reduce in place, waiting at most `timeout_seconds` without spinning a core.
/// On VAE_MPI_TIMED_OUT, rank 0 writes into `absent` the ranks that never entered this
/// collective and their number into `absent_count` (room for the world size is needed); other
/// ranks cannot know and write -1. The job must then be aborted: the collective is still pending.
int vae_mpi_allreduce_int64(int64_t *buffer, size_t count, vae_mpi_op op, double timeout_seconds,
                            int *absent, int *absent_count);
/// The same over 32-bit integers.
int vae_mpi_allreduce_int32(int32_t *buffer, size_t count, vae_mpi_op op, double timeout_seconds,
                            int *absent, int *absent_count);
/// Asks for short time slices for the calling thread (Linux 6.12 and later; ignored elsewhere), so
/// that when it wakes to move a collective on, it runs at once instead of after a busy thread's
/// slice of up to 3 ms.
void vae_mpi_prefer_prompt_wakeups(void);
int vae_mpi_abort(int code);
int vae_mpi_finalize(void);
/// Writes MPI's message for `code` into `buffer` (NUL-terminated).
void vae_mpi_error_string(int code, char *buffer, size_t capacity);
#endif

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

/// Returned by a collective once the heartbeats found a rank silent (not an MPI code): see
/// `vae_mpi_silent_ranks`. The job must then be aborted.
#define VAE_MPI_PEER_SILENT (-2)

/// How a rank finds others that do not answer, apart from the collectives' deadlines.
typedef struct {
    /// If start-up (MPI_Init and the set-up after it, which wait for every rank) is not done by
    /// then, `startup_message` is written as a line on stderr and the process exits.
    double startup_seconds;
    const char *startup_message;
    /// A peer silent this long counts as frozen, dead or cut off (0: no heartbeats); a beat is
    /// sent every `heartbeat_interval`.
    double heartbeat_seconds, heartbeat_interval;
    /// The exit status when a rank does not answer.
    int exit_status;
} vae_mpi_liveness;

/// Starts MPI; `any_thread` says whether collectives may come from any thread, one at a time,
/// and `one_machine` whether every rank runs on this machine.
///
/// Start-up has `liveness`'s deadline. Then, if heartbeats are asked for and MPI allows calls from
/// several threads at once, a thread exchanges them with rank 0 (rank 0 with every rank) until
/// `vae_mpi_finalize`: once a peer has been silent for `heartbeat_seconds`, every collective
/// returns VAE_MPI_PEER_SILENT, and if none does within `heartbeat_seconds` more, that thread says
/// so on stderr and aborts the job.
int vae_mpi_init(const vae_mpi_liveness *liveness, int *any_thread, int *one_machine);
/// Counters in memory that every rank shares, when all run on this machine (else none): they
/// start at 0, and ranks change them with the CPU's atomic operations, never blocked by a
/// frozen peer. `vae_mpi_counter_add` returns the value before the addition.
#define VAE_MPI_COUNTERS 2
int vae_mpi_has_shared_counters(void);
int64_t vae_mpi_counter_add(int counter, int64_t amount);
int64_t vae_mpi_counter_load(int counter);
void vae_mpi_counter_store(int counter, int64_t value);
int vae_mpi_rank(int *rank);
int vae_mpi_size(int *size);
/// Element-wise all-reduce in place, waiting at most `timeout_seconds` without spinning a core.
/// On VAE_MPI_TIMED_OUT, rank 0 writes into `absent` the ranks that never entered this
/// collective and their number into `absent_count` (room for the world size is needed); other
/// ranks cannot know and write -1. The job must then be aborted: the collective is still pending.
int vae_mpi_allreduce_int64(int64_t *buffer, size_t count, vae_mpi_op op, double timeout_seconds,
                            int *absent, int *absent_count);
/// The ranks whose heartbeats stopped (rank 0 watches every rank, the others rank 0), written
/// into `ranks` (room for the world size is needed); returns their number (0 while none is).
int vae_mpi_silent_ranks(int *ranks);
/// The host rank `rank` runs on (MPI_Get_processor_name, gathered at start-up), NUL-terminated.
void vae_mpi_host(int rank, char *buffer, size_t capacity);
/// A fault for tests: the next collective stops this process (SIGSTOP) right after entering it.
void vae_mpi_stop_inside_next_collective(void);
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

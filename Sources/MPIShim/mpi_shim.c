#include "mpi_shim.h"
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

// Ranks other than 0 announce to rank 0, on a communicator of their own, each collective they
// enter: when one times out, rank 0 can name the ranks that never came.
static MPI_Comm arrivals = MPI_COMM_NULL;
static int world_rank, world_size;
// Rank 0's pending receipts (one per other rank), or another rank's pending announcement.
static MPI_Request *requests;

int vae_mpi_init(int *any_thread, int *one_machine) {
    // Serialized: a collective may be called from another thread than the last one's (the exact
    // all-reduce's early groups run on a thread of their own), never from two at once.
    int provided = MPI_THREAD_SINGLE;
    int error = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (error != MPI_SUCCESS) return error;
    *any_thread = provided >= MPI_THREAD_SERIALIZED;
    if ((error = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS) return error;
    if ((error = MPI_Comm_rank(MPI_COMM_WORLD, &world_rank)) != MPI_SUCCESS) return error;
    if ((error = MPI_Comm_size(MPI_COMM_WORLD, &world_size)) != MPI_SUCCESS) return error;
    if ((error = MPI_Comm_dup(MPI_COMM_WORLD, &arrivals)) != MPI_SUCCESS) return error;
    // The ranks that share this one's memory: all of them when the job runs on one machine.
    MPI_Comm node;
    if ((error = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node)) != MPI_SUCCESS)
        return error;
    int node_size = 0;
    error = MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
    if (error != MPI_SUCCESS) return error;
    *one_machine = node_size == world_size;
    // One request each for the other ranks' announcements, plus one for the collective.
    requests = calloc((size_t)world_size + 1, sizeof(MPI_Request));
    return requests ? MPI_SUCCESS : MPI_ERR_NO_MEM;
}

int vae_mpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }

int vae_mpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

// Non-blocking MPI only moves on inside MPI calls, so the requests are tested: back to back for
// the first moments (a healthy collective is done in well under a millisecond), then between
// sleeps of an eighth of the time waited so far, from 10 us up to a cap of 1 ms. A collective of
// several rounds (a large buffer) keeps moving every few tens of microseconds in its first
// milliseconds, while a rank waiting for a slow peer uses almost no CPU and notices its arrival
// within the cap.
static int wait_all(int count, MPI_Request *pending, double deadline) {
    const double spin_seconds = 200e-6, shortest_pause = 10e-6, longest_pause = 1e-3;
    double started = seconds_now();
    for (;;) {
        // Open MPI moves non-blocking collectives on in one of every 8 calls of its progress
        // engine, so each waking tests 8 times. One by one, since MPI_Test frees each request
        // that completes (MPI_Testall frees none until all have): the ones left say who has
        // not come.
        int done = 0;
        for (int round = 0; round < 8 && !done; round++) {
            done = 1;
            for (int i = 0; i < count; i++) {
                if (pending[i] == MPI_REQUEST_NULL) continue;
                int flag = 0;
                int error = MPI_Test(&pending[i], &flag, MPI_STATUS_IGNORE);
                if (error != MPI_SUCCESS) return error;
                done &= flag;
            }
        }
        if (done) return MPI_SUCCESS;
        double now = seconds_now();
        if (now >= deadline) return VAE_MPI_TIMED_OUT;
        if (now - started < spin_seconds) continue;
        double pause = (now - started) / 8;
        pause = pause < shortest_pause ? shortest_pause : pause > longest_pause ? longest_pause : pause;
        struct timespec sleep = {0, (long)(pause * 1e9)};
        nanosleep(&sleep, NULL);
    }
}

// MPI counts are int: large buffers go in chunks, under one deadline.
static int allreduce(void *values, size_t count, MPI_Datatype type, size_t size, vae_mpi_op op, double timeout_seconds,
                     int *absent, int *absent_count) {
    char *buffer = values;
    double deadline = seconds_now() + timeout_seconds;
    MPI_Op mpi_op = op == vae_mpi_max ? MPI_MAX : MPI_SUM;
    int announcements = world_rank == 0 ? world_size - 1 : 1;
    for (int i = 0; i < announcements; i++) {
        int error = world_rank == 0 ? MPI_Irecv(NULL, 0, MPI_BYTE, i + 1, 0, arrivals, &requests[i])
                                    : MPI_Isend(NULL, 0, MPI_BYTE, 0, 0, arrivals, &requests[i]);
        if (error != MPI_SUCCESS) return error;
    }
    int error = MPI_SUCCESS;
    do {
        int chunk = count > INT_MAX ? INT_MAX : (int)count;
        error = MPI_Iallreduce(MPI_IN_PLACE, buffer, chunk, type, mpi_op, MPI_COMM_WORLD, &requests[announcements]);
        if (error == MPI_SUCCESS) error = wait_all(announcements + 1, requests, deadline);
        buffer += (size_t)chunk * size;
        count -= (size_t)chunk;
    } while (error == MPI_SUCCESS && count > 0);
    if (error == VAE_MPI_TIMED_OUT) {
        *absent_count = world_rank == 0 ? 0 : -1;
        for (int i = 0; world_rank == 0 && i < announcements; i++) {
            if (requests[i] != MPI_REQUEST_NULL) absent[(*absent_count)++] = i + 1;
        }
    }
    return error;
}

int vae_mpi_allreduce_int64(int64_t *buffer, size_t count, vae_mpi_op op, double timeout_seconds,
                            int *absent, int *absent_count) {
    return allreduce(buffer, count, MPI_INT64_T, sizeof *buffer, op, timeout_seconds, absent, absent_count);
}

int vae_mpi_allreduce_int32(int32_t *buffer, size_t count, vae_mpi_op op, double timeout_seconds,
                            int *absent, int *absent_count) {
    return allreduce(buffer, count, MPI_INT32_T, sizeof *buffer, op, timeout_seconds, absent, absent_count);
}

void vae_mpi_prefer_prompt_wakeups(void) {
#ifdef SYS_sched_setattr
    // struct sched_attr as Linux defines it (its first version).
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
    } attributes = {.size = sizeof attributes, .policy = 0 /* SCHED_OTHER */, .runtime = 100000 /* ns */};
    (void)syscall(SYS_sched_setattr, 0, &attributes, 0);
#endif
}

int vae_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

int vae_mpi_finalize(void) { return MPI_Finalize(); }

void vae_mpi_error_string(int code, char *buffer, size_t capacity) {
    if (capacity == 0) return;
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) {
        strncpy(buffer, "unknown MPI error", capacity - 1);
    } else {
        size_t n = (size_t)length < capacity - 1 ? (size_t)length : capacity - 1;
        memcpy(buffer, message, n);
        buffer[n] = '\0';
        return;
    }
    buffer[capacity - 1] = '\0';
}

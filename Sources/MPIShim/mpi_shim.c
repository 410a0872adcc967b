#define _GNU_SOURCE
#include "mpi_shim.h"
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Ranks other than 0 announce to rank 0, on a communicator of their own, each collective they
// enter: when one times out, rank 0 can name the ranks that never came.
static MPI_Comm arrivals = MPI_COMM_NULL;
static int world_rank, world_size;
// Rank 0's pending receipts (one per other rank), or another rank's pending announcement.
static MPI_Request *requests;
// Each rank's host (MPI_Get_processor_name), gathered at start-up.
static char (*hosts)[MPI_MAX_PROCESSOR_NAME];
// When every rank runs on this machine: counters in memory they all share (a window on the
// ranks of this machine), which ranks change with atomic operations of the CPU, no MPI call.
static MPI_Comm machine = MPI_COMM_NULL;
static MPI_Win counters_window = MPI_WIN_NULL;
static _Atomic int64_t *counters;

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void sleep_seconds(double seconds) {
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&pause, NULL);
}

// Writes one line on stderr at once (a write(2), as a thread about to end the process needs).
static void say(const char *line) {
    size_t length = strlen(line);
    while (length > 0) {
        ssize_t written = write(STDERR_FILENO, line, length);
        if (written <= 0) return;
        line += written;
        length -= (size_t)written;
    }
}

// ---- Start-up watchdog: MPI_Init has no deadline of its own, and waits for every rank. ----

static atomic_int started_up;
// The exit status of a job ended because a rank did not answer.
static int silent_exit_status = 1;

static double startup_deadline;
// The caller's: valid while vae_mpi_init runs, which waits for the watchdog to end.
static const char *startup_message;

static void *watch_start_up(void *unused) {
    (void)unused;
    while (!atomic_load(&started_up)) {
        if (seconds_now() >= startup_deadline) {
            say(startup_message);
            say("\n");
            _exit(silent_exit_status);
        }
        sleep_seconds(0.05);
    }
    return NULL;
}

// ---- Heartbeats: liveness apart from the collectives. ----
//
// A thread of its own exchanges an empty message every `interval` with rank 0 (rank 0 with every
// other rank), on a communicator of its own, and notes when it last heard from each. A rank
// frozen, dead or cut off stops sending whatever its main thread does, and a rank whose main
// thread is busy or waiting still sends; so the silence is found within the timeout wherever the
// main thread is, and names the rank. (Messages through MPI rather than a socket of our own: they
// take the link the job uses, need no address or port, and a cut link silences both alike.) Rank 0
// hears every rank; the others hear rank 0, and learn of any other's silence by being aborted.
// The main thread acts on a finding at its next collective (between files, never in the middle of
// writing one); the heartbeat thread ends the job itself only if it does not within `act_bound`.

static MPI_Comm heartbeats = MPI_COMM_NULL;
static pthread_t heartbeat_thread;
static int heartbeat_running;
static atomic_int heartbeat_stop, silence_found, silence_taken;
static double heartbeat_timeout, heartbeat_interval;
// Per peer (indexed by rank): when it was last heard from, and the pending messages.
static double *last_heard;
static MPI_Request *heartbeat_sends, *heartbeat_receives;
// The silent ranks as found (written by the heartbeat thread before `silence_found` is set).
static int *silent, silent_count;

static int is_peer(int rank) { return rank != world_rank && (world_rank == 0 || rank == 0); }

static void end_job_from_heartbeat_thread(double act_bound) {
    // The main thread is stuck outside MPI (or in a call that does not return): end the job here,
    // saying so as the main thread would, unless it has already said it and is ending the job.
    if (!atomic_load(&silence_taken)) {
        char line[1024];
        size_t n = (size_t)(world_rank == 0 ? snprintf(line, sizeof line, "vae: ")
                                            : snprintf(line, sizeof line, "vae: rank %d: ", world_rank));
        n += (size_t)snprintf(line + n, sizeof line - n, silent_count == 1 ? "rank" : "ranks");
        for (int i = 0; i < silent_count && n < sizeof line / 2; i++) {
            n += (size_t)snprintf(line + n, sizeof line - n, "%s %d", i == 0 ? "" : ",", silent[i]);
        }
        n += (size_t)snprintf(line + n, sizeof line - n, " did not answer for %g s (no heartbeat from", heartbeat_timeout);
        for (int i = 0; i < silent_count && n < sizeof line / 2; i++) {
            n += (size_t)snprintf(line + n, sizeof line - n, "%s %s", i == 0 ? "" : ",", hosts[silent[i]]);
        }
        snprintf(line + n, sizeof line - n,
                 ": frozen, dead or cut off), and this rank's work did not stop for it within %g s more; ending the job\n",
                 act_bound);
        say(line);
        MPI_Abort(MPI_COMM_WORLD, silent_exit_status);
    }
    _exit(silent_exit_status);
}

static void *heartbeat_loop(void *unused) {
    (void)unused;
    const double interval = heartbeat_interval, poll = interval / 10, act_bound = heartbeat_timeout;
    double now = seconds_now(), last_poll = now, next_send = now, found_at = 0;
    for (int peer = 0; peer < world_size; peer++) last_heard[peer] = now;
    while (!atomic_load(&heartbeat_stop)) {
        now = seconds_now();
        // This thread did not run for a while (the process was paused, or starved of CPU): the
        // silence was its own, so the peers get credit for it.
        if (now - last_poll > 5 * poll) {
            for (int peer = 0; peer < world_size; peer++) last_heard[peer] += now - last_poll - poll;
        }
        last_poll = now;
        for (int peer = 0; peer < world_size; peer++) {
            if (!is_peer(peer)) continue;
            // Everything that came: a paused process finds several waiting.
            for (;;) {
                int flag = 0;
                if (MPI_Test(&heartbeat_receives[peer], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || !flag) break;
                last_heard[peer] = now;
                if (MPI_Irecv(NULL, 0, MPI_BYTE, peer, 0, heartbeats, &heartbeat_receives[peer]) != MPI_SUCCESS) break;
            }
            // A send still pending (a peer that does not take it) is not doubled.
            if (now >= next_send) {
                int flag = 1;
                if (heartbeat_sends[peer] != MPI_REQUEST_NULL) MPI_Test(&heartbeat_sends[peer], &flag, MPI_STATUS_IGNORE);
                if (flag) MPI_Isend(NULL, 0, MPI_BYTE, peer, 0, heartbeats, &heartbeat_sends[peer]);
            }
        }
        if (now >= next_send) next_send = now + interval;
        if (!atomic_load(&silence_found)) {
            silent_count = 0;
            for (int peer = 0; peer < world_size; peer++) {
                if (is_peer(peer) && now - last_heard[peer] > heartbeat_timeout) silent[silent_count++] = peer;
            }
            if (silent_count > 0) {
                found_at = now;
                atomic_store(&silence_found, 1);
            }
        } else if (now - found_at > act_bound) {
            end_job_from_heartbeat_thread(act_bound);
        }
        sleep_seconds(poll);
    }
    return NULL;
}

static int start_heartbeats(void) {
    last_heard = calloc((size_t)world_size, sizeof *last_heard);
    silent = calloc((size_t)world_size, sizeof *silent);
    heartbeat_sends = calloc((size_t)world_size, sizeof *heartbeat_sends);
    heartbeat_receives = calloc((size_t)world_size, sizeof *heartbeat_receives);
    if (!last_heard || !silent || !heartbeat_sends || !heartbeat_receives) return MPI_ERR_NO_MEM;
    int error = MPI_Comm_dup(MPI_COMM_WORLD, &heartbeats);
    for (int peer = 0; peer < world_size && error == MPI_SUCCESS; peer++) {
        heartbeat_sends[peer] = heartbeat_receives[peer] = MPI_REQUEST_NULL;
        if (is_peer(peer)) error = MPI_Irecv(NULL, 0, MPI_BYTE, peer, 0, heartbeats, &heartbeat_receives[peer]);
    }
    if (error != MPI_SUCCESS) return error;
    if (pthread_create(&heartbeat_thread, NULL, heartbeat_loop, NULL) != 0) return MPI_ERR_OTHER;
    pthread_setname_np(heartbeat_thread, "vae-heartbeat");
    heartbeat_running = 1;
    return MPI_SUCCESS;
}

static void stop_heartbeats(void) {
    if (!heartbeat_running) return;
    atomic_store(&heartbeat_stop, 1);
    pthread_join(heartbeat_thread, NULL);
    heartbeat_running = 0;
    for (int peer = 0; peer < world_size; peer++) {
        if (heartbeat_receives[peer] != MPI_REQUEST_NULL) {
            MPI_Cancel(&heartbeat_receives[peer]);
            MPI_Request_free(&heartbeat_receives[peer]);
        }
        // An empty message goes out eagerly: a send still pending completes on its own.
        if (heartbeat_sends[peer] != MPI_REQUEST_NULL) MPI_Request_free(&heartbeat_sends[peer]);
    }
}

int vae_mpi_silent_ranks(int *ranks) {
    if (!atomic_load(&silence_found)) return 0;
    memcpy(ranks, silent, (size_t)silent_count * sizeof *ranks);
    return silent_count;
}

void vae_mpi_host(int rank, char *buffer, size_t capacity) {
    if (capacity == 0) return;
    snprintf(buffer, capacity, "%s", hosts && rank >= 0 && rank < world_size ? hosts[rank] : "");
}

// Rank 0 of `node` holds the counters, zeroed before any rank may use them. Where MPI cannot
// share memory, no rank uses them (they all deal work as between machines): every rank must
// deal alike, so they agree on whether all have them.
static int share_counters(MPI_Comm node) {
    _Atomic int64_t *base = NULL;
    int error, node_rank, unit = 0;
    MPI_Aint size = 0;
    if ((error = MPI_Comm_rank(node, &node_rank)) != MPI_SUCCESS) return error;
    int shared = MPI_Win_allocate_shared(node_rank == 0 ? VAE_MPI_COUNTERS * (MPI_Aint)sizeof *base : 0,
                                         (int)sizeof *base, MPI_INFO_NULL, node, &base, &counters_window) == MPI_SUCCESS &&
                 MPI_Win_shared_query(counters_window, 0, &size, &unit, &base) == MPI_SUCCESS && base != NULL;
    if (shared && node_rank == 0)
        for (int c = 0; c < VAE_MPI_COUNTERS; c++) atomic_init(&base[c], 0);
    // The agreement also orders the zeroing before any use.
    if ((error = MPI_Allreduce(MPI_IN_PLACE, &shared, 1, MPI_INT, MPI_MIN, node)) != MPI_SUCCESS) return error;
    if (!shared) {
        if (counters_window != MPI_WIN_NULL) MPI_Win_free(&counters_window);
        return MPI_SUCCESS;
    }
    counters = base;
    machine = node;
    return MPI_SUCCESS;
}

int vae_mpi_has_shared_counters(void) { return counters != NULL; }

int64_t vae_mpi_counter_add(int counter, int64_t amount) { return atomic_fetch_add(&counters[counter], amount); }

int64_t vae_mpi_counter_load(int counter) { return atomic_load(&counters[counter]); }

void vae_mpi_counter_store(int counter, int64_t value) { atomic_store(&counters[counter], value); }

static int set_up(int with_heartbeats, int *one_machine) {
    int error;
    if ((error = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS) return error;
    if ((error = MPI_Comm_rank(MPI_COMM_WORLD, &world_rank)) != MPI_SUCCESS) return error;
    if ((error = MPI_Comm_size(MPI_COMM_WORLD, &world_size)) != MPI_SUCCESS) return error;
    if ((error = MPI_Comm_dup(MPI_COMM_WORLD, &arrivals)) != MPI_SUCCESS) return error;
    // The ranks that share this one's memory: all of them when the job runs on one machine.
    MPI_Comm node;
    if ((error = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node)) != MPI_SUCCESS)
        return error;
    int node_size = 0;
    if ((error = MPI_Comm_size(node, &node_size)) != MPI_SUCCESS) return error;
    *one_machine = node_size == world_size;
    if (*one_machine && (error = share_counters(node)) != MPI_SUCCESS) return error;
    if (machine == MPI_COMM_NULL) MPI_Comm_free(&node);
    hosts = calloc((size_t)world_size, sizeof *hosts);
    // One request each for the other ranks' announcements, plus one for the collective.
    requests = calloc((size_t)world_size + 1, sizeof(MPI_Request));
    if (!hosts || !requests) return MPI_ERR_NO_MEM;
    int length = 0;
    if ((error = MPI_Get_processor_name(hosts[world_rank], &length)) != MPI_SUCCESS) return error;
    error = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, hosts, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD);
    if (error != MPI_SUCCESS) return error;
    return with_heartbeats ? start_heartbeats() : MPI_SUCCESS;
}

int vae_mpi_init(const vae_mpi_liveness *liveness, int *any_thread, int *one_machine) {
    silent_exit_status = liveness->exit_status;
    startup_deadline = seconds_now() + liveness->startup_seconds;
    startup_message = liveness->startup_message;
    heartbeat_timeout = liveness->heartbeat_seconds;
    heartbeat_interval = liveness->heartbeat_interval;
    pthread_t watchdog;
    if (pthread_create(&watchdog, NULL, watch_start_up, NULL) != 0) return MPI_ERR_OTHER;
    // Multiple: the heartbeat thread calls MPI beside the collectives, which may come from
    // another thread than the last one's (the exact all-reduce's early groups run on a thread of
    // their own), never from two at once.
    int provided = MPI_THREAD_SINGLE;
    int error = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    // Without it, no heartbeats: a silent rank is then found by the collectives' deadlines alone.
    if (error == MPI_SUCCESS) error = set_up(provided == MPI_THREAD_MULTIPLE && heartbeat_timeout > 0, one_machine);
    *any_thread = provided >= MPI_THREAD_SERIALIZED;
    // The watchdog waits for start-up to succeed or fail, and ends after it.
    atomic_store(&started_up, 1);
    pthread_join(watchdog, NULL);
    return error;
}

int vae_mpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }

int vae_mpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

// What a collective returns once the heartbeats found a silent rank: the caller ends the job.
static int peer_silent(void) {
    atomic_store(&silence_taken, 1);
    return VAE_MPI_PEER_SILENT;
}

static atomic_int stop_inside_next;

void vae_mpi_stop_inside_next_collective(void) { atomic_store(&stop_inside_next, 1); }

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
        if (atomic_load(&silence_found)) return peer_silent();
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
    if (atomic_load(&silence_found)) return peer_silent();
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
        if (atomic_exchange(&stop_inside_next, 0)) raise(SIGSTOP);
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

int vae_mpi_finalize(void) {
    stop_heartbeats();
    if (counters_window != MPI_WIN_NULL) {
        counters = NULL;
        MPI_Win_free(&counters_window);
        MPI_Comm_free(&machine);
    }
    return MPI_Finalize();
}

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

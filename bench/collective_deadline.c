// What the deadline on collectives costs, through the MPI shim itself (Sources/MPIShim):
// 1. a step's two collectives (a max over 22 int64, then a sum over 88,089), timed blocking as
//    before and through vae_mpi_allreduce_int64 (non-blocking, tested with a back-off),
//    alternating, medians of ITERATIONS;
// 2. the CPU time rank 0 spends waiting WAIT seconds for rank 1, in each way;
// with the shim's heartbeats at a timeout of HEARTBEAT seconds (0: none; default 10, vae's).
//   mpicc -O2 -I Sources/MPIShim/include bench/collective_deadline.c Sources/MPIShim/mpi_shim.c -o /tmp/collective_deadline
//   mpirun -n 2 /tmp/collective_deadline [ITERATIONS] [WAIT] [HEARTBEAT]
#include "mpi_shim.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

enum { AGREED = 22, VALUES = 88089 };

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

static int absent[1024], absent_count;

static void step(int64_t *agreed, int64_t *sums, int deadline_bound) {
    if (deadline_bound) {
        vae_mpi_allreduce_int64(agreed, AGREED, vae_mpi_max, 60, absent, &absent_count);
        vae_mpi_allreduce_int64(sums, VALUES, vae_mpi_sum, 60, absent, &absent_count);
    } else {
        MPI_Allreduce(MPI_IN_PLACE, agreed, AGREED, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, sums, VALUES, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    }
}

int main(int argc, char **argv) {
    int any_thread = 0, one_machine = 0;
    double heartbeat = argc > 3 ? atof(argv[3]) : 10;
    vae_mpi_liveness liveness = {.startup_seconds = 600, .startup_message = "collective_deadline: MPI start-up timed out",
                                 .heartbeat_seconds = heartbeat, .heartbeat_interval = heartbeat / 5 < 1 ? heartbeat / 5 : 1,
                                 .exit_status = 69};
    vae_mpi_init(&liveness, &any_thread, &one_machine);
    int rank;
    vae_mpi_rank(&rank);
    int iterations = argc > 1 ? atoi(argv[1]) : 300;
    int wait = argc > 2 ? atoi(argv[2]) : 10;
    int64_t agreed[AGREED] = {0};
    int64_t *sums = calloc(VALUES, sizeof(int64_t));
    double *times[2] = {malloc(sizeof(double) * (size_t)iterations), malloc(sizeof(double) * (size_t)iterations)};
    for (int i = 0; i < 20; i++) step(agreed, sums, i % 2);   // warm-up
    for (int i = 0; i < 2 * iterations; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        step(agreed, sums, i % 2);
        times[i % 2][i / 2] = MPI_Wtime() - start;
    }
    double waited_cpu[2];
    for (int bound = 0; bound < 2; bound++) {
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 1) sleep((unsigned)wait);
        double cpu = cpu_seconds();
        step(agreed, sums, bound);
        waited_cpu[bound] = cpu_seconds() - cpu;
    }
    if (rank == 0) {
        for (int k = 0; k < 2; k++) qsort(times[k], (size_t)iterations, sizeof(double), by_value);
        printf("step collectives, median of %d: blocking %.3f ms, deadline-bound %.3f ms\n", iterations,
               times[0][iterations / 2] * 1e3, times[1][iterations / 2] * 1e3);
        printf("CPU time of rank 0 waiting %d s for rank 1: blocking %.2f s, deadline-bound %.2f s\n", wait,
               waited_cpu[0], waited_cpu[1]);
    }
    vae_mpi_finalize();
    return 0;
}

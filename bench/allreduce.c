// Times MPI_Allreduce on a gradient-sized buffer two ways: float32 (what PyTorch DDP and
// Horovod move) and the two int64 limbs per value that vae's exact sum moves.
// Usage: mpirun -n 2 bench/allreduce PARAMETERS [ITERATIONS]
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_seconds(void *buffer, int count, MPI_Datatype type, int iterations) {
    double *times = malloc(sizeof(double) * (size_t)iterations);
    for (int i = 0; i < iterations; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buffer, count, type, MPI_SUM, MPI_COMM_WORLD);
        times[i] = MPI_Wtime() - start;
    }
    qsort(times, (size_t)iterations, sizeof(double), by_value);
    double median = times[iterations / 2];
    free(times);
    return median;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int parameters = argc > 1 ? atoi(argv[1]) : 88087;
    int iterations = argc > 2 ? atoi(argv[2]) : 300;
    float *floats = calloc((size_t)parameters, sizeof(float));
    int64_t *limbs = calloc((size_t)parameters * 2, sizeof(int64_t));
    median_seconds(floats, parameters, MPI_FLOAT, 20);   // warm-up
    double f = median_seconds(floats, parameters, MPI_FLOAT, iterations);
    double q = median_seconds(limbs, parameters * 2, MPI_INT64_T, iterations);
    if (rank == 0) {
        printf("ranks %d parameters %d float32_ms %.4f int64_limbs_ms %.4f\n", size, parameters, f * 1e3, q * 1e3);
    }
    free(floats);
    free(limbs);
    MPI_Finalize();
    return 0;
}

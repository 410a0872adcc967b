// Times a step's all-reduce of a gradient-sized buffer four ways: float32 (what PyTorch DDP
// and Horovod move); vae's exact sum in its wide encoding (a max over its 22 block exponents and
// marks, then a sum of one int64 a value and the term count); the two int64 limbs a value of
// vae's earlier exact sum; and the exact sum's narrow encoding (the same max, then one int32 a
// value and the count), which the trainer uses up to 64 micro-batches a step.
// Usage: mpirun -n 2 bench/allreduce VALUES [ITERATIONS]
// Prints: ranks N values V float32_ms F exact_ms E two_limbs_ms L exact32_ms N
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { AGREED = 22 };   // the exact sum's block exponents and the two marks

// With `agreed`, a max over AGREED int64 values goes first, as the trainer's step does.
static double median_seconds(void *buffer, int count, MPI_Datatype type, int64_t *agreed, int iterations) {
    double *times = malloc(sizeof(double) * (size_t)iterations);
    for (int i = 0; i < iterations; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        if (agreed) MPI_Allreduce(MPI_IN_PLACE, agreed, AGREED, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
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
    int values = argc > 1 ? atoi(argv[1]) : 88089;
    int iterations = argc > 2 ? atoi(argv[2]) : 300;
    float *floats = calloc((size_t)values, sizeof(float));
    int64_t *limbs = calloc((size_t)values * 2, sizeof(int64_t));
    int32_t *narrow = calloc((size_t)values + 1, sizeof(int32_t));
    int64_t agreed[AGREED] = {0};
    median_seconds(floats, values, MPI_FLOAT, NULL, 20);   // warm-up
    double f = median_seconds(floats, values, MPI_FLOAT, NULL, iterations);
    double e = median_seconds(limbs, values + 1, MPI_INT64_T, agreed, iterations);
    double q = median_seconds(limbs, values * 2, MPI_INT64_T, NULL, iterations);
    double n = median_seconds(narrow, values + 1, MPI_INT32_T, agreed, iterations);
    if (rank == 0) {
        printf("ranks %d values %d float32_ms %.4f exact_ms %.4f two_limbs_ms %.4f exact32_ms %.4f\n", size, values,
               f * 1e3, e * 1e3, q * 1e3, n * 1e3);
    }
    free(narrow);
    free(floats);
    free(limbs);
    MPI_Finalize();
    return 0;
}

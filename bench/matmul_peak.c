// Measures this machine's float32 matrix-product peak through OpenBLAS's cblas_sgemm: a square
// N x N product (2 N^3 FLOP), a few warm-up runs, then the best of R timed runs, once with one
// BLAS thread and once with one thread per core. launch/bench divides the trainers' FLOP/s by
// the all-cores figure.
// Usage: matmul_peak [N] [RUNS] [THREADS]    (defaults 2048, 10, every online core)
// Prints one line: gflops_1thread=... gflops_all=... threads=T n=N corename=...
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

// OpenBLAS's own entry points (declared here too, in case cblas.h is another vendor's).
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Best GFLOP/s of `runs` products C = A B after `warmup` untimed ones.
static double best_gflops(int n, int threads, int warmup, int runs, const float *a, const float *b, float *c) {
    openblas_set_num_threads(threads);
    double flop = 2.0 * (double)n * (double)n * (double)n;
    double best = 0.0;
    for (int i = 0; i < warmup + runs; i++) {
        double start = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double seconds = now_seconds() - start;
        if (i >= warmup && flop / seconds * 1e-9 > best) best = flop / seconds * 1e-9;
    }
    return best;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048;
    int runs = argc > 2 ? atoi(argv[2]) : 10;
    int threads = argc > 3 ? atoi(argv[3]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1 || runs < 1 || threads < 1) {
        fprintf(stderr, "usage: matmul_peak [N] [RUNS] [THREADS]\n");
        return 2;
    }
    size_t count = (size_t)n * (size_t)n;
    float *a = malloc(count * sizeof(float));
    float *b = malloc(count * sizeof(float));
    float *c = malloc(count * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "matmul_peak: cannot allocate three %dx%d matrices\n", n, n);
        return 1;
    }
    unsigned state = 12345u;  // any values away from zero and denormals will do
    for (size_t i = 0; i < count; i++) {
        state = state * 1664525u + 1013904223u;
        a[i] = 0.5f + (float)(state >> 8) / 16777216.0f;
        state = state * 1664525u + 1013904223u;
        b[i] = 0.5f + (float)(state >> 8) / 16777216.0f;
    }
    double one = best_gflops(n, 1, 3, runs, a, b, c);
    double all = best_gflops(n, threads, 3, runs, a, b, c);
    printf("gflops_1thread=%.1f gflops_all=%.1f threads=%d n=%d corename=%s\n",
           one, all, threads, n, openblas_get_corename());
    free(a);
    free(b);
    free(c);
    return 0;
}

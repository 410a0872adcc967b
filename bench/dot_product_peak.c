// Measures the multiply-add units' own limit, with no memory traffic: a loop of independent
// fused multiply-adds held in registers, for float32 (vfmadd on the widest vectors the CPU has)
// and, where the CPU has AVX512_BF16, for bfloat16 pairs with float32 accumulation (vdpbf16ps:
// 16 lanes x 2 products a 512-bit instruction, twice an fp32 FMA's). launch/bench prints the
// bf16 figure as the bf16 limit beside the sgemm peak (no BLAS offers a bf16 GEMM to time).
// Usage: dot_product_peak [THREADS] [SECONDS]    (defaults: every online core, 0.5 s a measurement)
// Prints one line: fp32_gflops=... bf16_gflops=...|unsupported vector_bits=... threads=T
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

// Independent accumulators: enough to cover an FMA's latency (4-5 cycles) on two pipes; the
// loops over them are unrolled so that they stay in registers.
#define CHAINS 12
#define ITERATIONS 100000L

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Each kernel runs ITERATIONS x CHAINS instructions and returns the FLOP it did; the sum of the
// accumulators goes to `sink` so that the compiler keeps the loop.
typedef double (*kernel)(float *sink);

// The float32 kernel for one vector width (GCC's vector types; `a * acc + b` contracts to one FMA).
#define FP32_KERNEL(name, isa, lanes)                                                           \
    typedef float name##_vector __attribute__((vector_size(4 * (lanes))));                      \
    __attribute__((target(isa))) static double name(float *sink) {                              \
        name##_vector acc[CHAINS], a, b;                                                        \
        for (int l = 0; l < (lanes); l++) a[l] = 1.0001f, b[l] = 0.9999f;                       \
        for (int c = 0; c < CHAINS; c++)                                                        \
            for (int l = 0; l < (lanes); l++) acc[c][l] = (float)c;                             \
        for (long i = 0; i < ITERATIONS; i++)                                                   \
            _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++) acc[c] = a * acc[c] + b;  \
        for (int c = 0; c < CHAINS; c++)                                                        \
            for (int l = 0; l < (lanes); l++) *sink += acc[c][l];                               \
        return (double)ITERATIONS * CHAINS * (lanes) * 2;                                       \
    }
FP32_KERNEL(fp32_512, "avx512f", 16)
FP32_KERNEL(fp32_256, "avx2,fma", 8)

__attribute__((target("avx512f,avx512bf16"))) static double bf16_512(float *sink) {
    __m512 acc[CHAINS];
    // 32 bfloat16 values a register, converted from floats near 1.
    __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0001f), _mm512_set1_ps(0.9999f));
    __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(-0.5f));
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < ITERATIONS; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
    __m512 total = acc[0];
    for (int c = 1; c < CHAINS; c++) total = _mm512_add_ps(total, acc[c]);
    *sink += _mm512_reduce_add_ps(total);
    return (double)ITERATIONS * CHAINS * 16 * 2 * 2;
}

struct job {
    kernel run;
    double seconds;
    double flop;
    float sink;
};

// Runs the kernel again and again for the job's seconds, counting the FLOP done.
static void *run_job(void *argument) {
    struct job *job = argument;
    double start = now_seconds();
    do job->flop += job->run(&job->sink);
    while (now_seconds() - start < job->seconds);
    job->seconds = now_seconds() - start;
    return NULL;
}

// GFLOP/s of `threads` threads, each running `run` for `seconds`; best of three.
static double gflops(kernel run, int threads, double seconds) {
    double best = 0;
    for (int round = 0; round < 3; round++) {
        struct job jobs[threads];
        pthread_t ids[threads];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (struct job){.run = run, .seconds = seconds};
            pthread_create(&ids[t], NULL, run_job, &jobs[t]);
        }
        double rate = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(ids[t], NULL);
            rate += jobs[t].flop / jobs[t].seconds * 1e-9;
            if (jobs[t].sink == 12345.0f) puts("");  // keeps the sums alive
        }
        if (rate > best) best = rate;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    double seconds = argc > 2 ? atof(argv[2]) : 0.5;
    if (threads < 1 || threads > 1024 || !(seconds > 0)) {
        fprintf(stderr, "usage: dot_product_peak [THREADS] [SECONDS]\n");
        return 2;
    }
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "dot_product_peak: this CPU has neither AVX-512 nor AVX2 with FMA\n");
        return 1;
    }
    double fp32 = gflops(wide ? fp32_512 : fp32_256, threads, seconds);
    printf("fp32_gflops=%.1f ", fp32);
    if (wide && __builtin_cpu_supports("avx512bf16"))
        printf("bf16_gflops=%.1f ", gflops(bf16_512, threads, seconds));
    else
        printf("bf16_gflops=unsupported ");
    printf("vector_bits=%d threads=%d\n", wide ? 512 : 256, threads);
    return 0;
}

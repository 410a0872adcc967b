#include "ckernels.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

// The kernels are compiled once per build (transposed_convolution_body.h) and called through
// the table of the build in use: the best one the CPU has unless one is chosen.

#define INLINE static inline __attribute__((always_inline))

// a * b + c as one fused multiply-add where the target has one.
#pragma clang fp contract(fast)

typedef float v8 __attribute__((ext_vector_type(8)));
typedef int v8i __attribute__((ext_vector_type(8)));
typedef float v8u __attribute__((ext_vector_type(8), aligned(4)));
typedef float v16 __attribute__((ext_vector_type(16)));
typedef float v16u __attribute__((ext_vector_type(16), aligned(4)));
#define LOAD8(p) (*(const v8u *)(p))
#define STORE8(p, v) (*(v8u *)(p) = (v))

// Pairwise sums of neighbouring lanes, a's then b's in each half: AVX's horizontal add.
#define PAIR_SUMS(a, b) (__builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + \
                         __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15))
enum { PIXELS = 8 };

static inline int min_int(int a, int b) { return a < b ? a : b; }

typedef struct {
    void (*deconv2x_forward)(const float *, int, int, int, int, const float *, const float *, int, bool, float *,
                             float *);
    void (*deconv2x_backward)(const float *, const float *, int, int, int, int, int, const float *, float *, float *,
                              float *, float *, bool);
    void (*deconv1x_single_forward)(const float *, int, int, int, int, const float *, const float *, float *);
    void (*deconv1x_single_backward)(const float *, const float *, int, int, int, int, const float *, float *,
                                     float *, float *, float *);
} vae_kernel_table;

// Baseline: whatever the compiler targets by default (SSE2 on x86-64), no FMA.
#define BUILD baseline
#define LANES 8
#define MAX_ROWS 6
#include "transposed_convolution_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS

#if defined(__x86_64__)
// AVX2 + FMA (x86-64-v3): 16 vector registers, 6 x 16 tiles (12 accumulators).
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#define BUILD avx2
#define LANES 8
#define MAX_ROWS 6
#include "transposed_convolution_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#pragma clang attribute pop

// AVX-512 (x86-64-v4: F, BW, CD, DQ, VL): 32 vector registers, 14 x 32 tiles (28 accumulators).
// min_vector_width: the v4 tuning otherwise splits 512-bit vectors into 256-bit halves.
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4"), min_vector_width(512))), apply_to = function)
#define BUILD avx512
#define LANES 16
#define MAX_ROWS 14
#include "transposed_convolution_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#pragma clang attribute pop
#endif

static const char *const build_names[VAE_KERNEL_BUILDS] = {"baseline", "avx2", "avx512"};

static const vae_kernel_table *table_of(vae_kernel_build build) {
    switch (build) {
#if defined(__x86_64__)
    case VAE_KERNELS_AVX512: return &vae_kernels_avx512;
    case VAE_KERNELS_AVX2: return &vae_kernels_avx2;
#endif
    default: return &vae_kernels_baseline;
    }
}

bool vae_kernel_build_available(vae_kernel_build build) {
    switch (build) {
    case VAE_KERNELS_BASELINE: return true;
#if defined(__x86_64__)
    case VAE_KERNELS_AVX2: return __builtin_cpu_supports("x86-64-v3");
    case VAE_KERNELS_AVX512: return __builtin_cpu_supports("x86-64-v4");
#endif
    default: return false;
    }
}

const char *vae_kernel_build_name(vae_kernel_build build) {
    return build >= 0 && build < VAE_KERNEL_BUILDS ? build_names[build] : "unknown";
}

vae_kernel_build vae_kernel_build_best(void) {
    for (int build = VAE_KERNEL_BUILDS - 1; build > 0; build--)
        if (vae_kernel_build_available((vae_kernel_build)build)) return (vae_kernel_build)build;
    return VAE_KERNELS_BASELINE;
}

// The process's build (-1 until chosen or first used: then the best), and a thread's own
// choice, which wins over it (tests compare builds side by side in one process).
static _Atomic int process_build = -1;
static _Thread_local int thread_build = -1;

vae_kernel_build vae_kernel_build_in_use(void) {
    if (thread_build >= 0) return (vae_kernel_build)thread_build;
    int build = atomic_load_explicit(&process_build, memory_order_relaxed);
    if (build < 0) {
        build = vae_kernel_build_best();
        atomic_store_explicit(&process_build, build, memory_order_relaxed);
    }
    return (vae_kernel_build)build;
}

bool vae_kernel_build_use(vae_kernel_build build) {
    if (!vae_kernel_build_available(build)) return false;
    atomic_store_explicit(&process_build, build, memory_order_relaxed);
    return true;
}

bool vae_kernel_build_use_on_this_thread(int build) {
    if (build >= 0 && !vae_kernel_build_available((vae_kernel_build)build)) return false;
    thread_build = build < 0 ? -1 : build;
    return true;
}

void vae_deconv2x_forward(const float *x, int batch, int height, int width, int inputs, const float *kernel,
                          const float *bias, int outputs, bool relu, float *packed, float *y) {
    table_of(vae_kernel_build_in_use())->deconv2x_forward(x, batch, height, width, inputs, kernel, bias, outputs, relu,
                                                          packed, y);
}

void vae_deconv2x_backward(const float *dy, const float *x, int batch, int height, int width, int inputs, int outputs,
                           const float *kernel, float *scratch, float *kernelGradient, float *biasGradient, float *dx,
                           bool dxIsGrid) {
    table_of(vae_kernel_build_in_use())->deconv2x_backward(dy, x, batch, height, width, inputs, outputs, kernel, scratch,
                                                           kernelGradient, biasGradient, dx, dxIsGrid);
}

void vae_deconv1x_single_forward(const float *x, int batch, int height, int width, int inputs, const float *kernel,
                                 const float *bias, float *y) {
    table_of(vae_kernel_build_in_use())->deconv1x_single_forward(x, batch, height, width, inputs, kernel, bias, y);
}

void vae_deconv1x_single_backward(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                  const float *kernel, float *kernelGradient, float *biasGradient, float *dyGrid,
                                  float *dx) {
    table_of(vae_kernel_build_in_use())->deconv1x_single_backward(dy, x, batch, height, width, inputs, kernel,
                                                                  kernelGradient, biasGradient, dyGrid, dx);
}

void vae_grids_from_images(const float *images, int batch, int height, int width, int channels, float *grids) {
    const int row = (width + 2) * channels;
    const size_t grid = (size_t)vae_grid_count(height, width, channels);
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < height; y++)
            memcpy(grids + n * grid + (size_t)(y + 1) * row + channels,
                   images + ((size_t)n * height + y) * width * channels, sizeof(float) * width * channels);
}

#include "ckernels.h"

#include <stddef.h>

// The matrix product, compiled once per build (matrix_product_body.h) like the transposed
// convolutions, and run in the build they use.

#define INLINE static inline __attribute__((always_inline))

// a * b + c as one fused multiply-add where the target has one.
#pragma clang fp contract(fast)

typedef float v8 __attribute__((ext_vector_type(8)));
typedef float v8u __attribute__((ext_vector_type(8), aligned(4)));
typedef float v16 __attribute__((ext_vector_type(16)));
typedef float v16u __attribute__((ext_vector_type(16), aligned(4)));

static inline int min_int(int a, int b) { return a < b ? a : b; }

// Rows of op(B) packed at a time: a panel of 256 x 32 floats (32 KB) stays in L1 while every
// row tile of C walks it.
enum { PRODUCT_DEPTH = 256 };

#define BUILD baseline
#define LANES 8
#define MAX_ROWS 6
#include "matrix_product_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#define BUILD avx2
#define LANES 8
#define MAX_ROWS 6
#include "matrix_product_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("arch=x86-64-v4"), min_vector_width(512))), apply_to = function)
#define BUILD avx512
#define LANES 16
#define MAX_ROWS 14
#include "matrix_product_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#pragma clang attribute pop
#endif

void vae_matrix_product(bool transposeA, bool transposeB, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) {
    switch (vae_kernel_build_in_use()) {
#if defined(__x86_64__)
    case VAE_KERNELS_AVX512_BF16:   // its float32 kernels are the avx512 build's
    case VAE_KERNELS_AVX512:
        matrix_product_avx512(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    case VAE_KERNELS_AVX2:
        matrix_product_avx2(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
#endif
    default:
        matrix_product_baseline(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

#include "ckernels.h"

#include "target_clones.h"

// The element-wise passes beside the matrix products, compiled for the CPU's widest vectors
// (Swift compiles for the baseline's SSE2). Each value gets one operation, so every width gives
// the same bits.

KERNEL void vae_add_bias(float *restrict values, size_t rows, size_t columns, const float *restrict bias, bool relu) {
    for (size_t r = 0; r < rows; r++, values += columns) {
        if (relu)
            for (size_t c = 0; c < columns; c++) {
                const float v = values[c] + bias[c];
                values[c] = 0.0f >= v ? 0.0f : v;   // Swift's max(v, 0): +0 for -0, NaN kept
            }
        else
            for (size_t c = 0; c < columns; c++) values[c] += bias[c];
    }
}

KERNEL void vae_relu_backward(float *restrict gradient, const float *restrict output, size_t count) {
    for (size_t i = 0; i < count; i++) gradient[i] = output[i] > 0.0f ? gradient[i] : 0.0f;
}

KERNEL void vae_add_column_sums(const float *restrict values, size_t rows, size_t columns, float *restrict sums) {
    for (size_t r = 0; r < rows; r++, values += columns)
        for (size_t c = 0; c < columns; c++) sums[c] += values[c];
}

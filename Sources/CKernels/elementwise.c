#include "ckernels.h"

#include "per_build.h"

// The element-wise passes beside the matrix products, compiled for each build's vectors
// (Swift compiles for the baseline's SSE2). Each value gets one operation, so every width gives
// the same bits.

INLINE void vae_add_bias_body(float *restrict values, size_t rows, size_t columns, const float *restrict bias,
                              bool relu) {
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
PER_BUILD(void, vae_add_bias, (float *restrict values, size_t rows, size_t columns, const float *restrict bias, bool relu),
          (values, rows, columns, bias, relu))

INLINE void vae_relu_backward_body(float *restrict gradient, const float *restrict output, size_t count) {
    for (size_t i = 0; i < count; i++) gradient[i] = output[i] > 0.0f ? gradient[i] : 0.0f;
}
PER_BUILD(void, vae_relu_backward, (float *restrict gradient, const float *restrict output, size_t count),
          (gradient, output, count))

INLINE void vae_add_column_sums_body(const float *restrict values, size_t rows, size_t columns, float *restrict sums) {
    for (size_t r = 0; r < rows; r++, values += columns)
        for (size_t c = 0; c < columns; c++) sums[c] += values[c];
}
PER_BUILD(void, vae_add_column_sums, (const float *restrict values, size_t rows, size_t columns, float *restrict sums),
          (values, rows, columns, sums))

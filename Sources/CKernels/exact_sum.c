#include "ckernels.h"

#include <math.h>
#include <string.h>

#include "per_build.h"

INLINE int vae_block_exponent_body(const float *values, size_t count) {
    // The largest exponent field (the sign and mantissa masked off) bounds every magnitude.
    uint32_t largest = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        bits &= 0x7F800000u;
        largest = bits > largest ? bits : largest;
    }
    if (largest == 0x7F800000u) return VAE_NOT_FINITE;
    if (largest == 0) return -125;                   // zeros and subnormals: below 2^-126
    return (int)(largest >> 23) - 126;               // a normal float with this field is below 2^(field - 126)
}
PER_BUILD(int, vae_block_exponent, (const float *values, size_t count), (values, count))

INLINE void vae_block_exact_add_body(const float *values, int64_t *sums, size_t count, int exponent) {
    const double scale = ldexp(1.0, 52 - exponent);  // |value| < 2^exponent, so |value * scale| < 2^52
    for (size_t i = 0; i < count; i++) {
        const double units = floor((double)values[i] * scale);
        sums[i] = (int64_t)((uint64_t)sums[i] + (uint64_t)(int64_t)units);
    }
}
PER_BUILD(void, vae_block_exact_add, (const float *values, int64_t *sums, size_t count, int exponent),
          (values, sums, count, exponent))

void vae_block_exact_total(const int64_t *sums, float *totals, size_t count, int exponent) {
    const double unit = ldexp(1.0, exponent - 52);
    for (size_t i = 0; i < count; i++) totals[i] = (float)((double)sums[i] * unit);
}

INLINE void vae_block_exact_add32_body(const float *values, int32_t *sums, size_t count, int exponent, int precision) {
    // |value| < 2^exponent, so the units lie in [-2^precision, 2^precision): with precision <= 31
    // each fits an int32, and the caller's bound on the number of terms keeps the sums in range.
    // In double, as above: scaling a float32 by a power of two there is exact.
    const double scale = ldexp(1.0, precision - exponent);
    for (size_t i = 0; i < count; i++) {
        const double units = floor((double)values[i] * scale);
        sums[i] = (int32_t)((uint32_t)sums[i] + (uint32_t)(int32_t)units);
    }
}
PER_BUILD(void, vae_block_exact_add32, (const float *values, int32_t *sums, size_t count, int exponent, int precision),
          (values, sums, count, exponent, precision))

void vae_block_exact_total32(const int32_t *sums, float *totals, size_t count, int exponent, int precision) {
    const double unit = ldexp(1.0, exponent - precision);
    for (size_t i = 0; i < count; i++) totals[i] = (float)((double)sums[i] * unit);
}

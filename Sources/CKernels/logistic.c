#include "ckernels.h"

#include <string.h>

#include "per_build.h"

// The loss's exp and log1p in vectors, sixteen values at a time. They compute what glibc's
// expf (its FMA variant, which glibc runs on every CPU with FMA and AVX2) and log1pf compute,
// step for step, so that the loss keeps the bits it had when it called them one value at a
// time (LogisticTests checks every input of the loss's domain against glibc). The baseline build
// (no FMA) runs the same steps with fma() from the C library: the same bits everywhere, slowly.

// No contraction: every rounding below is written out, as glibc's own compiler made it.
#pragma clang fp contract(off)

typedef float f16 __attribute__((ext_vector_type(16)));
typedef float f16u __attribute__((ext_vector_type(16), aligned(4)));
typedef double d16 __attribute__((ext_vector_type(16)));
typedef int32_t i16 __attribute__((ext_vector_type(16)));
typedef uint64_t q16 __attribute__((ext_vector_type(16)));

// Macros and pointers rather than vector arguments: the copies without AVX-512 could not pass
// them in registers.
#define bits_of(x) ((i16)(x))
#define float_of(bits) ((f16)(bits))
// Lane-wise choice: where `mask` is all ones, a; elsewhere b.
#define choose_int(mask, a, b) (((mask) & (a)) | (~(mask) & (b)))
#define choose(mask, a, b) float_of(choose_int(mask, bits_of(a), bits_of(b)))

// 2^(i/32) rounded to double, its bits less i << 47: adding ki << 47 for ki = 32 k + i gives
// the bits of 2^(k + i/32).
static const uint64_t exp_table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

// e^x = 2^(k/32) * 2^(r/32), with k the nearest integer to x * 32/ln 2 and 2^(r/32) a cubic in
// r, all in double, rounded to float once at the end.
INLINE void exp16(const f16 *argument, f16 *out) {
    const f16 x = *argument;
    const d16 xd = __builtin_convertvector(x, d16);
    const double shift = 0x1.8p52, thirtyTwoOverLn2 = 0x1.71547652b82fep+5;
    const d16 shifted = __builtin_elementwise_fma(xd, (d16)thirtyTwoOverLn2, (d16)shift);
    const q16 ki = (q16)shifted;
    const d16 kd = shifted - shift;
    const d16 r = __builtin_elementwise_fma(xd, (d16)thirtyTwoOverLn2, -kd);
    q16 t;
    for (int j = 0; j < 16; j++) t[j] = exp_table[ki[j] % 32];
    const d16 s = (d16)(t + (ki << 47));
    const d16 cubic = __builtin_elementwise_fma(r, (d16)0x1.c6af84b912394p-20, (d16)0x1.ebfce50fac4f3p-13);
    const d16 linear = __builtin_elementwise_fma(r, (d16)0x1.62e42ff0c52d6p-6, (d16)1.0);
    const d16 y = __builtin_elementwise_fma(cubic, r * r, linear) * s;
    f16 result = __builtin_convertvector(y, f16);
    // Beyond the formula's range: NaN stays NaN, overflow gives infinity, and underflow the
    // least subnormal down to log(2^-150), zero below (as glibc's error paths return them).
    result = choose(x != x, x + x, result);
    result = choose(x > 0x1.62e42ep6f, (f16)__builtin_inff(), result);
    result = choose(x < -0x1.9d1d9ep6f, (f16)0x1p-149f, result);
    *out = choose(x < -0x1.9fe368p6f, (f16)0.0f, result);
}

// log(1 + x) for x >= 0 (NaN stays NaN): x itself below 2^-54, x - x^2/2 below 2^-29; above,
// 1 + x = 2^k (1 + f) with f in [sqrt(2)/2 - 1, sqrt(2) - 1] (k = 0 and f = x below 0.41422),
// c the rounding error of 1 + x relative to it, and log(1 + f) from s = f/(2 + f) and a
// polynomial in s^2, in float throughout.
INLINE void log1p16(const f16 *argument, f16 *out) {
    const f16 x = *argument;
    const float ln2High = 0x1.62e3p-1f, ln2Low = 0x1.2fefa2p-17f;
    const i16 hx = bits_of(x);
    const i16 belowTwoTo53 = hx < 0x5a000000;   // from 2^53 up, 1 + x is x
    f16 u = choose(belowTwoTo53, 1.0f + x, x);
    i16 hu = bits_of(u);
    i16 k = (hu >> 23) - 127;
    f16 c = choose(belowTwoTo53, choose(k > 0, 1.0f - (u - x), x - (u - 1.0f)) / u, (f16)0.0f);
    hu &= 0x007fffff;
    const i16 halve = hu >= 0x3504f7;           // 1 + f at or above sqrt(2): f from (1 + f)/2
    u = float_of(hu | choose_int(halve, (i16)0x3f000000, (i16)0x3f800000));
    k -= halve;
    hu = choose_int(halve, ((i16)0x00800000 - hu) >> 2, hu);
    f16 f = u - 1.0f;
    const i16 small = hx < 0x3ed413d7;
    f = choose(small, x, f);
    k = choose_int(small, (i16)0, k);
    hu = choose_int(small, (i16)1, hu);
    const f16 kf = __builtin_convertvector(k, f16);
    const f16 hfsq = 0.5f * f * f;

    // hu == 0: f below 2^-20 (only where x >= 0.41422, so k is 1).
    const f16 shortR = hfsq * (1.0f - 0x1.555556p-1f * f);
    f16 nearZero = choose(k == 0, f - shortR, kf * ln2High - ((shortR - (kf * ln2Low + c)) - f));
    nearZero = choose(f == 0.0f, choose(k == 0, (f16)0.0f, kf * ln2High + (c + kf * ln2Low)), nearZero);

    const f16 s = f / (2.0f + f), z = s * s;
    const f16 R = z * (0x1.555556p-1f + z * (0x1.99999ap-2f + z * (0x1.24924ap-2f + z * (0x1.c71c52p-3f +
                  z * (0x1.74664ap-3f + z * (0x1.39a09ep-3f + z * 0x1.2f112ep-3f))))));
    f16 result = choose(k == 0, f - (hfsq - s * (hfsq + R)),
                        kf * ln2High - ((hfsq - (s * (hfsq + R) + (kf * ln2Low + c))) - f));
    result = choose(hu == 0, nearZero, result);
    result = choose(hx < 0x31000000, choose(hx < 0x24800000, x, x - x * x * 0.5f), result);
    *out = choose(hx >= 0x7f800000, x + x, result);
}

// Sixteen values from `values[0 ..< count)`, zeros after them.
INLINE void load16(const float *values, size_t count, f16 *v) {
    if (count >= 16) {
        *v = *(const f16u *)values;
        return;
    }
    float padded[16] = {0};
    memcpy(padded, values, sizeof(float) * count);
    *v = *(const f16u *)padded;
}

// The first `count` lanes of `v` (all 16 from 16 up) into `values`.
INLINE void store16(float *values, const f16 *v, size_t count) {
    if (count >= 16) {
        *(f16u *)values = *v;
        return;
    }
    float padded[16];
    *(f16u *)padded = *v;
    memcpy(values, padded, sizeof(float) * count);
}

// y = step(x) for `count` values, sixteen at a time.
INLINE void map16(const float *x, float *y, size_t count, void (*step)(const f16 *, f16 *)) {
    for (size_t i = 0; i < count; i += 16) {
        f16 v;
        load16(x + i, count - i, &v);
        step(&v, &v);
        store16(y + i, &v, count - i);
    }
}

INLINE void vae_exp_body(const float *x, float *y, size_t count) { map16(x, y, count, exp16); }
PER_BUILD(void, vae_exp, (const float *x, float *y, size_t count), (x, y, count))

INLINE void vae_log1p_body(const float *x, float *y, size_t count) { map16(x, y, count, log1p16); }
PER_BUILD(void, vae_log1p, (const float *x, float *y, size_t count), (x, y, count))

// e^-|l|, and from it sigmoid(l) = 1/(1 + e^-l) for l >= 0, e^l/(1 + e^l) below: never overflows.
#define EXP_OF_MINUS_MAGNITUDE(l, e) do { const f16 minus = -float_of(bits_of(l) & 0x7fffffff); exp16(&minus, &(e)); } while (0)
#define SIGMOID(l, e) choose((l) >= 0.0f, 1.0f / (1.0f + (e)), (e) / (1.0f + (e)))

INLINE double vae_sigmoid_cross_entropy_body(const float *logits, const float *targets, size_t count,
                                           float gradientScale, float *logitGradient) {
    double sum = 0;
    for (size_t i = 0; i < count; i += 16) {
        const size_t lanes = count - i < 16 ? count - i : 16;
        f16 l, y, e, logOfOnePlusE;
        load16(logits + i, lanes, &l);
        load16(targets + i, lanes, &y);
        EXP_OF_MINUS_MAGNITUDE(l, e);
        log1p16(&e, &logOfOnePlusE);
        // max(l, 0) - l y + log(1 + e^-|l|), as Swift's max(l, 0) picks (0 where l <= 0); the
        // terms added in order, in double.
        const f16 terms = (choose(0.0f >= l, (f16)0.0f, l) - l * y) + logOfOnePlusE;
        for (size_t j = 0; j < lanes; j++) sum += (double)terms[j];
        const f16 gradient = (SIGMOID(l, e) - y) * gradientScale;
        store16(logitGradient + i, &gradient, lanes);
    }
    return sum;
}
PER_BUILD(double, vae_sigmoid_cross_entropy,
          (const float *logits, const float *targets, size_t count, float gradientScale, float *logitGradient),
          (logits, targets, count, gradientScale, logitGradient))

INLINE void sigmoid16(const f16 *argument, f16 *out) {
    const f16 l = *argument;
    f16 e;
    EXP_OF_MINUS_MAGNITUDE(l, e);
    *out = SIGMOID(l, e);
}

INLINE void vae_sigmoid_body(float *values, size_t count) { map16(values, values, count, sigmoid16); }
PER_BUILD(void, vae_sigmoid, (float *values, size_t count), (values, count))

#include "ckernels.h"

#include <math.h>

#if defined(__x86_64__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

// Each step is exact: scaling a float32 by powers of two, its floor, and the fraction left.
KERNEL void vae_exact_sum_add(const float *values, int64_t *limbs, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const double units = (double)values[i] * 0x1p12;   // in units of the high limb, 2^-12
        const double high = floor(units);
        const double low = (units - high) * 0x1p52;        // the rest in units of 2^-64, in [0, 2^52)
        // Wrapping adds, as Swift's &+=: the limbs are sized not to overflow, but C must not
        // be allowed to assume it.
        limbs[2 * i] = (int64_t)((uint64_t)limbs[2 * i] + (uint64_t)(int64_t)high);
        limbs[2 * i + 1] = (int64_t)((uint64_t)limbs[2 * i + 1] + (uint64_t)(int64_t)low);
    }
}

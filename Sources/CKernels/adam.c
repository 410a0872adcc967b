#include "ckernels.h"

#include <math.h>

#include "per_build.h"

// Keras rounds to float32 after every operation: no fused multiply-adds here, so that every
// build, and the vector lanes and the scalar tail alike, give Keras's bits.
#pragma clang fp contract(off)

typedef float v16 __attribute__((ext_vector_type(16)));
typedef float v16u __attribute__((ext_vector_type(16), aligned(4)));

INLINE void vae_adam_update_body(float *restrict parameters, float *restrict m, float *restrict v,
                               const float *restrict g, size_t count, float alpha, float oneMinusBeta1,
                               float oneMinusBeta2, float epsilon) {
    size_t i = 0;
    // Vectors written out: sqrtf may set errno, so a plain loop would not vectorise.
    for (; i + 16 <= count; i += 16) {
        const v16 gi = *(const v16u *)(g + i);
        v16 mi = *(v16u *)(m + i), vi = *(v16u *)(v + i);
        mi += (gi - mi) * oneMinusBeta1;
        vi += (gi * gi - vi) * oneMinusBeta2;
        *(v16u *)(m + i) = mi;
        *(v16u *)(v + i) = vi;
        *(v16u *)(parameters + i) -= (mi * alpha) / (__builtin_elementwise_sqrt(vi) + epsilon);
    }
    for (; i < count; i++) {
        m[i] += (g[i] - m[i]) * oneMinusBeta1;
        v[i] += (g[i] * g[i] - v[i]) * oneMinusBeta2;
        parameters[i] -= (m[i] * alpha) / (__builtin_sqrtf(v[i]) + epsilon);
    }
}
PER_BUILD(void, vae_adam_update,
          (float *restrict parameters, float *restrict m, float *restrict v, const float *restrict g, size_t count,
           float alpha, float oneMinusBeta1, float oneMinusBeta2, float epsilon),
          (parameters, m, v, g, count, alpha, oneMinusBeta1, oneMinusBeta2, epsilon))

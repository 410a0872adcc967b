// Element-wise loops written once, as `name_body` (INLINE), and compiled for each kernel
// build's target: `PER_BUILD` defines `name`, which runs the copy of the build in use
// (vae_kernel_build_in_use), as the convolutions do. So `VAE_KERNELS` and a thread's own choice
// reach these loops too, and tests compare every build's bits on one machine. For loops whose
// every lane computes the same bits whatever the vector width.
#if defined(__x86_64__)
// The builds' instructions as features, not as arch=x86-64-v3/v4: that brings the v4 tuning,
// whose loop vectoriser prefers 256-bit vectors.
#define X86_64_V3 "avx2,fma,bmi,bmi2,f16c,lzcnt,movbe"
#define AVX512 "avx512f,avx512bw,avx512cd,avx512dq,avx512vl"
#define PER_BUILD(type, name, parameters, arguments)                                                  \
    __attribute__((target(X86_64_V3 "," AVX512))) static type name##_avx512 parameters {             \
        return name##_body arguments;                                                               \
    }                                                                                               \
    __attribute__((target(X86_64_V3))) static type name##_avx2 parameters {                          \
        return name##_body arguments;                                                               \
    }                                                                                               \
    static type name##_baseline parameters { return name##_body arguments; }                        \
    type name parameters {                                                                          \
        switch (vae_kernel_build_in_use()) {                                                        \
        case VAE_KERNELS_AVX512_BF16:                                                               \
        case VAE_KERNELS_AVX512: return name##_avx512 arguments;                                    \
        case VAE_KERNELS_AVX2: return name##_avx2 arguments;                                        \
        default: return name##_baseline arguments;                                                  \
        }                                                                                           \
    }
#else
#define PER_BUILD(type, name, parameters, arguments) \
    type name parameters { return name##_body arguments; }
#endif

// Bodies and the helpers they call: inlined into each build's copy, compiled for its target.
#define INLINE static inline __attribute__((always_inline))

// Element-wise loops compiled for AVX-512, AVX2 and the baseline, the CPU's best chosen when the
// program loads: for loops whose every lane computes the same bits whatever the vector width.
#if defined(__x86_64__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

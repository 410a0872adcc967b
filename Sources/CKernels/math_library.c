#include "ckernels.h"

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#if defined(__x86_64__)
#include <sys/platform/x86.h>
#endif
#endif

bool vae_math_library_fuses_multiply_add(void) {
#if defined(__x86_64__) && defined(__GLIBC__)
    // What glibc chose its FMA variants of exp, log and the like by (ifunc-fma.h), as it sees
    // the CPU: GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA turns them off.
    return CPU_FEATURE_ACTIVE(FMA) && CPU_FEATURE_ACTIVE(AVX2);
#else
    return false;
#endif
}

const char *vae_math_library_version(void) {
#if defined(__GLIBC__)
    return gnu_get_libc_version();
#else
    return "unknown";
#endif
}

#include "ckernels.h"

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#include <malloc.h>
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

void vae_c_library_return_big_blocks(void) {
#if defined(__GLIBC__)
    // glibc raises its mmap threshold to the size of each big block freed, then keeps such
    // blocks in its heaps: the scoring threads, each with its own heap, held about twice what
    // they use at once (a run's peak 226 MB against 115). A fixed threshold maps every block
    // from 4 MB up and returns it when freed.
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

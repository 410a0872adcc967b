// The decoder's transposed-convolution kernels alone, at the model's shapes, in one build:
// forward and backward of its three layers on micro-batches of 16, as a training step calls them.
//   clang -O2 -I Sources/CKernels/include bench/deconv_kernels.c Sources/CKernels/transposed_convolution.c
//   ./a.out BUILD [MICRO_BATCHES [PRECISION]]   BUILD: baseline, avx2, avx512 or avx512bf16;
//                                               PRECISION: fp32 (default) or bf16 (the two
//                                               upsampling layers, as --precision bf16 runs them)
// Prints the build, the micro-batches run and their images/s, for whole-process timing from
// outside (e.g. /usr/bin/time, or two builds in alternation); then each kernel's microseconds an
// image and GFLOP/s (2 FLOP a multiply-add), to set against one core's sgemm peak.
#include "ckernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Zeroed floats on a cache line's start, as the trainer's workspace holds them: a vector load
// across two lines would cost the kernels a fifth of their speed.
static float *zeroed(size_t count) {
    float *values = aligned_alloc(64, (sizeof(float) * count + 63) / 64 * 64);
    memset(values, 0, sizeof(float) * count);
    return values;
}

static float *filled(size_t count, unsigned *seed, float low, float high) {
    float *values = zeroed(count);
    for (size_t i = 0; i < count; i++) values[i] = low + (high - low) * (float)rand_r(seed) / (float)RAND_MAX;
    return values;
}

// Grids of `batch` H x W x C images, interior filled (ReLU-like: a quarter zero), border zero.
static float *grids(int batch, int height, int width, int channels, unsigned *seed) {
    float *g = zeroed((size_t)batch * vae_grid_count(height, width, channels));
    float *images = filled((size_t)batch * height * width * channels, seed, -0.3f, 1);
    for (size_t i = 0; i < (size_t)batch * height * width * channels; i++) images[i] = images[i] < 0 ? 0 : images[i];
    vae_grids_from_images(images, batch, height, width, channels, g);
    free(images);
    return g;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s baseline|avx2|avx512|avx512bf16 [micro-batches [fp32|bf16]]\n", argv[0]);
        return 2;
    }
    int build = -1;
    for (int b = 0; b < VAE_KERNEL_BUILDS; b++)
        if (strcmp(argv[1], vae_kernel_build_name((vae_kernel_build)b)) == 0) build = b;
    if (build < 0) { fprintf(stderr, "unknown build %s\n", argv[1]); return 2; }
    if (!vae_kernel_build_use((vae_kernel_build)build)) { fprintf(stderr, "this CPU lacks the %s build\n", argv[1]); return 2; }
    const int steps = argc > 2 ? atoi(argv[2]) : 400, batch = 16;
    const bool bf16 = argc > 3 && strcmp(argv[3], "bf16") == 0;
    if (argc > 3 && !bf16 && strcmp(argv[3], "fp32") != 0) { fprintf(stderr, "unknown precision %s\n", argv[3]); return 2; }
    if (bf16 && !vae_kernel_build_runs_bf16((vae_kernel_build)build)) { fprintf(stderr, "the %s build has no bf16 kernels\n", argv[1]); return 2; }
    typeof(&vae_deconv2x_forward) forward = bf16 ? vae_deconv2x_forward_bf16 : vae_deconv2x_forward;
    typeof(&vae_deconv2x_backward) backward = bf16 ? vae_deconv2x_backward_bf16 : vae_deconv2x_backward;
    size_t scratchCount = 18 * 64 * 64;
    for (int layer = 0; layer < 2; layer++) {
        const size_t need = vae_deconv2x_bf16_room_of(7 * (layer + 1), 7 * (layer + 1), 64, layer ? 32 : 64).scratch;
        if (need > scratchCount) scratchCount = need;
    }
    unsigned seed = 1;
    // 7x7x64 -> 14x14x64 -> 28x28x32 -> 28x28x1.
    float *x1 = grids(batch, 7, 7, 64, &seed), *x2 = grids(batch, 14, 14, 64, &seed), *x3 = grids(batch, 28, 28, 32, &seed);
    float *dy2 = grids(batch, 14, 14, 64, &seed), *dy3 = grids(batch, 28, 28, 32, &seed);
    float *k1 = filled(9 * 64 * 64, &seed, -0.1f, 0.1f), *k2 = filled(9 * 64 * 32, &seed, -0.1f, 0.1f);
    float *k3 = filled(9 * 32, &seed, -0.1f, 0.1f), *bias = filled(64, &seed, -0.1f, 0.1f);
    float *dLogits = filled((size_t)batch * 28 * 28, &seed, -1, 1);
    float *scratch = zeroed(scratchCount), *dyGrid = zeroed(30 * 30);
    float *g1 = zeroed(9 * 64 * 64), *g2 = zeroed(9 * 64 * 32), *g3 = zeroed(9 * 32);
    float *gb = zeroed(64), *logits = zeroed(batch * 28 * 28);
    float *dx1 = zeroed(batch * 7 * 7 * 64);
    float *dx2 = zeroed((size_t)batch * vae_grid_count(14, 14, 64));
    float *dx3 = zeroed((size_t)batch * vae_grid_count(28, 28, 32));
    // Multiply-adds an image: each input position meets 9 taps x inputs x outputs (stride 2),
    // each output pixel 9 taps x 32 inputs (the output layer); a backward pass does twice a forward's.
    enum { KERNELS = 6 };
    const char *names[KERNELS] = {"deconv1 forward", "deconv2 forward", "output forward", "output backward",
                                  "deconv2 backward", "deconv1 backward"};
    const double macs[KERNELS] = {7 * 7 * 9 * 64 * 64, 14 * 14 * 9 * 64 * 32, 28 * 28 * 9 * 32, 2 * 28 * 28 * 9 * 32,
                                  2 * 14 * 14 * 9 * 64 * 32, 2 * 7 * 7 * 9 * 64 * 64};
    double spent[KERNELS] = {0};
    const double start = seconds_now();
    for (int step = 0; step < steps; step++) {
        double t[KERNELS + 1];
        t[0] = seconds_now();
        forward(x1, batch, 7, 7, 64, k1, bias, 64, true, scratch, x2);
        t[1] = seconds_now();
        forward(x2, batch, 14, 14, 64, k2, bias, 32, true, scratch, x3);
        t[2] = seconds_now();
        vae_deconv1x_single_forward(x3, batch, 28, 28, 32, k3, bias, logits);
        t[3] = seconds_now();
        vae_deconv1x_single_backward(dLogits, x3, batch, 28, 28, 32, k3, g3, gb, dyGrid, dx3);
        t[4] = seconds_now();
        backward(dy3, x2, batch, 14, 14, 64, 32, k2, scratch, g2, gb, dx2, true);
        t[5] = seconds_now();
        backward(dy2, x1, batch, 7, 7, 64, 64, k1, scratch, g1, gb, dx1, false);
        t[6] = seconds_now();
        for (int k = 0; k < KERNELS; k++) spent[k] += t[k + 1] - t[k];
    }
    const double seconds = seconds_now() - start, images = (double)steps * batch;
    printf("build=%s precision=%s micro_batches=%d images_per_second=%.0f checksum=%g\n", argv[1], bf16 ? "bf16" : "fp32", steps,
           images / seconds, (double)(g1[0] + g2[0] + g3[0] + logits[0] + dx1[0]));
    for (int k = 0; k < KERNELS; k++)
        printf("  %-17s %6.1f us/image %6.1f GFLOP/s\n", names[k], 1e6 * spent[k] / images, 2 * macs[k] * images / spent[k] * 1e-9);
    return 0;
}

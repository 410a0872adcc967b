#include "ckernels.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The kernels are compiled once per build (transposed_convolution_body.h) and called through
// the table of the build in use: the best one the CPU has unless one is chosen.

#define INLINE static inline __attribute__((always_inline))
// A kernel body's function names end in the build's name (BUILD, defined before each inclusion).
#define NAME_JOIN(name, build) name##_##build
#define NAME_EXPAND(name, build) NAME_JOIN(name, build)
#define NAME(name) NAME_EXPAND(name, BUILD)

// a * b + c as one fused multiply-add where the target has one.
#pragma clang fp contract(fast)

typedef float v8 __attribute__((ext_vector_type(8)));
typedef float v8u __attribute__((ext_vector_type(8), aligned(4)));
typedef float v16 __attribute__((ext_vector_type(16)));
typedef float v16u __attribute__((ext_vector_type(16), aligned(4)));
typedef uint32_t w8 __attribute__((ext_vector_type(8)));
typedef uint32_t w8u __attribute__((ext_vector_type(8), aligned(4)));
typedef uint32_t w16 __attribute__((ext_vector_type(16)));
typedef uint32_t w16u __attribute__((ext_vector_type(16), aligned(4)));
#define LOAD8(p) (*(const v8u *)(p))
#define STORE8(p, v) (*(v8u *)(p) = (v))

// Pairwise sums of neighbouring lanes, a's then b's in each half: AVX's horizontal add.
#define PAIR_SUMS(a, b) (__builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + \
                         __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15))

static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

// Where in a grid the interior position p (row-major, `width` a row) is.
static inline size_t interior_cell(int p, int width, int row, int channels) {
    return (size_t)(p / width + 1) * row + (size_t)(p % width + 1) * channels;
}

// Where in the upsampled grid output (2 iy + ky, 2 ix + kx) is, for input position p = (iy, ix).
static inline size_t upsampled_cell(int p, int width, int ky, int kx, int row, int channels) {
    return (size_t)(2 * (p / width) + ky + 1) * row + (size_t)(2 * (p % width) + kx + 1) * channels;
}

// Stride 2: output (2m + py, 2q + px) sums kernel rows ky = py (input row m) and, for
// py = 0, ky = 2 (input row m - 1); columns alike. So each of the four output phases is a
// product over 1, 2 or 4 taps, with the input rows read in place.
typedef struct { int count, index[4], rowShift[4], columnShift[4]; } phase_taps;

// Where tap t of a phase reads the input, for the output whose input position is at `cell`.
static inline size_t phase_tap_cell(const phase_taps *taps, int t, size_t cell, int row, int channels) {
    return cell - (size_t)taps->rowShift[t] * row - (size_t)taps->columnShift[t] * channels;
}

static inline phase_taps taps_of_phase(int py, int px) {
    phase_taps taps = {0};
    for (int ky = py; ky < 3; ky += 2)
        for (int kx = px; kx < 3; kx += 2) {
            taps.index[taps.count] = ky * 3 + kx;
            taps.rowShift[taps.count] = (ky - py) / 2;
            taps.columnShift[taps.count] = (kx - px) / 2;
            taps.count++;
        }
    return taps;
}

// Rows a tile takes so that `count` rows split into tiles of at most `maximum` as even as can
// be (49 positions in 14s as 13 + 13 + 13 + 10 rather than 14 + 14 + 14 + 7).
static inline int even_tile_rows(int count, int maximum) {
    const int tiles = (count + maximum - 1) / maximum;
    return (count + tiles - 1) / tiles;
}

// The bias gradient of one image: its output gradient's interior, summed in order, 64 outputs
// at a time in vector registers (`outputs` is a multiple of 16; a local array would keep every
// sum a round trip through memory, as would the caller's, which might alias the grid).
static inline void add_bias_gradient(const float *dyGrid, int height, int width, int outputs, float *biasGradient) {
    const int row = (width + 2) * outputs;
    for (int o0 = 0; o0 < outputs; o0 += 64) {
        const int vectors = min_int(64, outputs - o0) / 16;
        v16 sums[4];
#pragma unroll
        for (int v = 0; v < 4; v++) sums[v] = v < vectors ? *(const v16u *)(biasGradient + o0 + 16 * v) : 0;
        for (int oy = 1; oy <= height; oy++)
            for (int ox = 1; ox <= width; ox++) {
                const float *g = dyGrid + oy * row + ox * outputs + o0;
#pragma unroll
                for (int v = 0; v < 4; v++)
                    if (v < vectors) sums[v] += *(const v16u *)(g + 16 * v);
            }
#pragma unroll
        for (int v = 0; v < 4; v++)
            if (v < vectors) *(v16u *)(biasGradient + o0 + 16 * v) = sums[v];
    }
}

// dst[c][r] = src[r][c] (or += when `add`) for an 8 x 8 block, rows `srcRow` and `dstRow` floats
// apart: eight loads, three rounds of shuffles, eight stores, rather than 64 strided moves.
static inline void transpose_block8(const float *src, size_t srcRow, float *dst, size_t dstRow, bool add) {
    v8 r[8], a[8], b[8];
    for (int k = 0; k < 8; k++) r[k] = LOAD8(src + k * srcRow);
    for (int k = 0; k < 8; k += 2) {   // neighbouring rows' elements interleaved, in each half
        a[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        a[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int k = 0; k < 8; k += 4)     // then pairs of pairs: four rows' columns c and c + 4
        for (int h = 0; h < 2; h++) {
            b[k + 2 * h] = __builtin_shufflevector(a[k + h], a[k + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            b[k + 2 * h + 1] = __builtin_shufflevector(a[k + h], a[k + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int c = 0; c < 4; c++) {      // then the two halves of the block's rows
        const v8 low = __builtin_shufflevector(b[c], b[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        const v8 high = __builtin_shufflevector(b[c], b[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        STORE8(dst + c * dstRow, add ? LOAD8(dst + c * dstRow) + low : low);
        STORE8(dst + (c + 4) * dstRow, add ? LOAD8(dst + (c + 4) * dstRow) + high : high);
    }
}

// Adds a kernel gradient summed as [tap][input][output] into Keras's [tap][output][input]
// (inputs and outputs are multiples of 16).
static inline void add_kernel_gradient(const float *packedGradient, int inputs, int outputs, float *kernelGradient) {
    const size_t panel = (size_t)inputs * outputs;
    for (int tap = 0; tap < 9; tap++)
        for (int i = 0; i < inputs; i += 8)
            for (int o = 0; o < outputs; o += 8)
                transpose_block8(packedGradient + tap * panel + (size_t)i * outputs + o, outputs,
                                 kernelGradient + tap * panel + (size_t)o * inputs + i, inputs, true);
}

// float32 -> bfloat16, rounded to nearest even. Subnormals become zeros of their sign, as the
// dot-product unit would read them anyway (and as vcvtneps2bf16 converts them); NaN stays NaN.
static inline uint32_t bf16_bits(float value) {
    uint32_t u;
    memcpy(&u, &value, sizeof u);
    const uint32_t magnitude = u & 0x7fffffffu;
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return magnitude < 0x00800000u ? (u >> 16) & 0x8000u : magnitude > 0x7f800000u ? (u >> 16) | 0x0040u : rounded;
}

// Two values as one pair word: the first in the low half.
static inline uint32_t bf16_pair(float first, float second) { return bf16_bits(first) | bf16_bits(second) << 16; }

// bf16_bits on sixteen lanes at once (`u`: the floats' bits), as a macro: a vector argument
// would change the ABI between the builds' targets.
#define BF16_BITS16(u) ({                                                                                  \
    const w16 u_ = (u), magnitude_ = u_ & 0x7fffffffu;                                                    \
    const w16 subnormal_ = (w16)(magnitude_ < 0x00800000u), nan_ = (w16)(magnitude_ > 0x7f800000u);        \
    const w16 rounded_ = (u_ + 0x7fffu + ((u_ >> 16) & 1u)) >> 16;                                         \
    (subnormal_ & ((u_ >> 16) & 0x8000u)) | (nan_ & ((u_ >> 16) | 0x0040u)) | (~(subnormal_ | nan_) & rounded_); \
})

// values[0 ..< 2 * count) as `count` pair words: neighbours pair up. Sixteen at a time in
// vectors, which the build's target then compiles.
static inline void bf16_pairs(const float *values, size_t count, uint32_t *pairs) {
    size_t k = 0;
    for (; k + 16 <= count; k += 16) {
        const w16 first = *(const w16u *)(values + 2 * k), second = *(const w16u *)(values + 2 * k + 16);
        const w16 low = __builtin_shufflevector(first, second, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const w16 high = __builtin_shufflevector(first, second, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        *(w16u *)(pairs + k) = BF16_BITS16(low) | BF16_BITS16(high) << 16;
    }
    for (; k < count; k++) pairs[k] = bf16_pair(values[2 * k], values[2 * k + 1]);
}

// Pair words of two rows of floats: first[j]'s bf16 in the low half, second[j]'s in the high
// one; a missing second row (NULL) pairs with zeros. Sixteen at a time in vectors.
static inline void bf16_zip(const float *first, const float *second, int count, uint32_t *pairs) {
    int j = 0;
    for (; j + 16 <= count; j += 16) {
        const w16 low = BF16_BITS16(*(const w16u *)(first + j));
        const w16 high = second ? BF16_BITS16(*(const w16u *)(second + j)) : 0;
        *(w16u *)(pairs + j) = low | high << 16;
    }
    for (; j < count; j++) pairs[j] = second ? bf16_pair(first[j], second[j]) : bf16_bits(first[j]);
}

// Where a register tile's sums go (tile_output_body.h): added into c[r] when `accumulate`, else
// stored there with `bias` added (if not NULL, then ReLU if `relu`) or zeroed where mask[r] (if
// not NULL) is not positive.
typedef struct {
    float *const *c;
    bool accumulate;
    const float *bias;
    bool relu;
    const float *const *mask;
} tile_output;

typedef struct {
    void (*deconv2x_pack_forward)(const float *, int, int, float *);
    void (*deconv2x_forward_packed)(const float *, int, int, int, int, const float *, const float *, int, bool,
                                    float *);
    void (*deconv2x_pack_backward)(const float *, int, int, float *);
    void (*deconv2x_backward_images)(const float *, const float *, int, int, int, int, int, float *, int, int, float *,
                                     float *, bool);
    void (*deconv1x_single_forward)(const float *, int, int, int, int, const float *, const float *, float *);
    void (*deconv1x_single_backward)(const float *, const float *, int, int, int, int, const float *, float *,
                                     float *, float *, float *);
    // NULL in a build without fused multiply-adds (the steps cannot be emulated there).
    void (*deconv2x_pack_forward_bf16)(const float *, int, int, float *);
    void (*deconv2x_forward_packed_bf16)(const float *, int, int, int, int, const float *, const float *, int, bool,
                                         uint32_t *, float *);
    void (*deconv2x_pack_backward_bf16)(const float *, int, int, float *);
    void (*deconv2x_position_pairs_bf16)(const float *, int, int, int, int, uint32_t *);
    void (*deconv2x_backward_images_bf16)(const float *, const float *, int, int, int, int, int, float *, int, int,
                                          float *, float *, bool, const uint32_t *, uint32_t *);
} vae_kernel_table;

// One build's table: its float32 kernels, and its bfloat16 ones (or NULL).
#define KERNEL_TABLE(build, bf16_build) { \
    .deconv2x_pack_forward = deconv2x_pack_forward_##build, .deconv2x_forward_packed = deconv2x_forward_packed_##build, \
    .deconv2x_pack_backward = deconv2x_pack_backward_##build, \
    .deconv2x_backward_images = deconv2x_backward_images_##build, \
    .deconv1x_single_forward = deconv1x_single_forward_##build, \
    .deconv1x_single_backward = deconv1x_single_backward_##build, \
    .deconv2x_pack_forward_bf16 = deconv2x_pack_forward_bf16_##bf16_build, \
    .deconv2x_forward_packed_bf16 = deconv2x_forward_packed_bf16_##bf16_build, \
    .deconv2x_pack_backward_bf16 = deconv2x_pack_backward_bf16_##bf16_build, \
    .deconv2x_position_pairs_bf16 = deconv2x_position_pairs_bf16_##bf16_build, \
    .deconv2x_backward_images_bf16 = deconv2x_backward_images_bf16_##bf16_build }

// Baseline: whatever the compiler targets by default (SSE2 on x86-64), no FMA.
#define BUILD baseline
#define LANES 8
#define MAX_ROWS 6
#include "tile_output_body.h"
#include "transposed_convolution_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#define deconv2x_pack_forward_bf16_none NULL
#define deconv2x_forward_packed_bf16_none NULL
#define deconv2x_pack_backward_bf16_none NULL
#define deconv2x_position_pairs_bf16_none NULL
#define deconv2x_backward_images_bf16_none NULL
static const vae_kernel_table vae_kernels_baseline = KERNEL_TABLE(baseline, none);

#if defined(__x86_64__)
// AVX2 + FMA (x86-64-v3): 16 vector registers, 6 x 16 tiles (12 accumulators); bf16 emulated
// in 4 x 16 tiles (8 accumulators, the pair's two halves of two vectors, two of the row's).
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#define BUILD avx2
#define LANES 8
#define MAX_ROWS 6
#include "tile_output_body.h"
#include "transposed_convolution_body.h"
#define PAIR_ROWS 4
#define NATIVE_BF16 0
#include "transposed_convolution_bf16_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#undef PAIR_ROWS
#undef NATIVE_BF16
#pragma clang attribute pop

// AVX-512 (x86-64-v4: F, BW, CD, DQ, VL): 32 vector registers, 14 x 32 tiles (28 accumulators);
// bf16 emulated in 12 x 32 tiles.
// min_vector_width: the v4 tuning otherwise splits 512-bit vectors into 256-bit halves.
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4"), min_vector_width(512))), apply_to = function)
#define BUILD avx512
#define LANES 16
#define MAX_ROWS 14
#include "tile_output_body.h"
#include "transposed_convolution_body.h"
#define PAIR_ROWS 12
#define NATIVE_BF16 0
#include "transposed_convolution_bf16_body.h"
#undef BUILD
#undef LANES
#undef MAX_ROWS
#undef PAIR_ROWS
#undef NATIVE_BF16
#pragma clang attribute pop

// AVX-512 with AVX512_BF16: the AVX-512 build's float32 kernels, and bf16 steps on vdpbf16ps
// (one instruction a step, its broadcast operand read from memory): 14 x 32 tiles.
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4,avx512bf16"), min_vector_width(512))), \
                             apply_to = function)
#define BUILD avx512bf16
#define LANES 16
#define PAIR_ROWS 14
#define NATIVE_BF16 1
#include "tile_output_body.h"
#include "transposed_convolution_bf16_body.h"
#undef BUILD
#undef LANES
#undef PAIR_ROWS
#undef NATIVE_BF16
#pragma clang attribute pop

static const vae_kernel_table vae_kernels_avx2 = KERNEL_TABLE(avx2, avx2);
static const vae_kernel_table vae_kernels_avx512 = KERNEL_TABLE(avx512, avx512);
static const vae_kernel_table vae_kernels_avx512bf16 = KERNEL_TABLE(avx512, avx512bf16);
#endif

static const char *const build_names[VAE_KERNEL_BUILDS] = {"baseline", "avx2", "avx512", "avx512bf16"};

static const vae_kernel_table *table_of(vae_kernel_build build) {
    switch (build) {
#if defined(__x86_64__)
    case VAE_KERNELS_AVX512_BF16: return &vae_kernels_avx512bf16;
    case VAE_KERNELS_AVX512: return &vae_kernels_avx512;
    case VAE_KERNELS_AVX2: return &vae_kernels_avx2;
#endif
    default: return &vae_kernels_baseline;
    }
}

bool vae_kernel_build_available(vae_kernel_build build) {
    switch (build) {
    case VAE_KERNELS_BASELINE: return true;
#if defined(__x86_64__)
    case VAE_KERNELS_AVX2: return __builtin_cpu_supports("x86-64-v3");
    case VAE_KERNELS_AVX512: return __builtin_cpu_supports("x86-64-v4");
    case VAE_KERNELS_AVX512_BF16: return __builtin_cpu_supports("x86-64-v4") && __builtin_cpu_supports("avx512bf16");
#endif
    default: return false;
    }
}

const char *vae_kernel_build_name(vae_kernel_build build) {
    return build >= 0 && build < VAE_KERNEL_BUILDS ? build_names[build] : "unknown";
}

vae_kernel_build vae_kernel_build_best(void) {
    for (int build = VAE_KERNEL_BUILDS - 1; build > 0; build--)
        if (vae_kernel_build_available((vae_kernel_build)build)) return (vae_kernel_build)build;
    return VAE_KERNELS_BASELINE;
}

// The process's build (-1 until chosen or first used: then the best), and a thread's own
// choice, which wins over it (tests compare builds side by side in one process).
static _Atomic int process_build = -1;
static _Thread_local int thread_build = -1;

vae_kernel_build vae_kernel_build_in_use(void) {
    if (thread_build >= 0) return (vae_kernel_build)thread_build;
    int build = atomic_load_explicit(&process_build, memory_order_relaxed);
    if (build < 0) {
        build = vae_kernel_build_best();
        atomic_store_explicit(&process_build, build, memory_order_relaxed);
    }
    return (vae_kernel_build)build;
}

bool vae_kernel_build_use(vae_kernel_build build) {
    if (!vae_kernel_build_available(build)) return false;
    atomic_store_explicit(&process_build, build, memory_order_relaxed);
    return true;
}

bool vae_kernel_build_use_on_this_thread(int build) {
    if (build >= 0 && !vae_kernel_build_available((vae_kernel_build)build)) return false;
    thread_build = build < 0 ? -1 : build;
    return true;
}

void vae_deconv2x_pack_forward(const float *kernel, int inputs, int outputs, float *packed) {
    table_of(vae_kernel_build_in_use())->deconv2x_pack_forward(kernel, inputs, outputs, packed);
}

void vae_deconv2x_forward_packed(const float *x, int batch, int height, int width, int inputs, const float *packed,
                                 const float *bias, int outputs, bool relu, float *y) {
    table_of(vae_kernel_build_in_use())->deconv2x_forward_packed(x, batch, height, width, inputs, packed, bias, outputs,
                                                                 relu, y);
}

void vae_deconv2x_forward(const float *x, int batch, int height, int width, int inputs, const float *kernel,
                          const float *bias, int outputs, bool relu, float *packed, float *y) {
    vae_deconv2x_pack_forward(kernel, inputs, outputs, packed);
    vae_deconv2x_forward_packed(x, batch, height, width, inputs, packed, bias, outputs, relu, y);
}

void vae_deconv2x_pack_backward(const float *kernel, int inputs, int outputs, float *scratch) {
    table_of(vae_kernel_build_in_use())->deconv2x_pack_backward(kernel, inputs, outputs, scratch);
}

void vae_deconv2x_backward_images(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                  int outputs, float *scratch, int tapFirst, int tapEnd, float *biasGradient, float *dx,
                                  bool dxIsGrid) {
    table_of(vae_kernel_build_in_use())->deconv2x_backward_images(dy, x, batch, height, width, inputs, outputs, scratch,
                                                                  tapFirst, tapEnd, biasGradient, dx, dxIsGrid);
}

void vae_deconv2x_backward_finish(const float *scratch, int inputs, int outputs, float *kernelGradient) {
    add_kernel_gradient(scratch, inputs, outputs, kernelGradient);
}

void vae_deconv2x_backward(const float *dy, const float *x, int batch, int height, int width, int inputs, int outputs,
                           const float *kernel, float *scratch, float *kernelGradient, float *biasGradient, float *dx,
                           bool dxIsGrid) {
    vae_deconv2x_pack_backward(kernel, inputs, outputs, scratch);
    vae_deconv2x_backward_images(dy, x, batch, height, width, inputs, outputs, scratch, 0, 9, biasGradient, dx, dxIsGrid);
    vae_deconv2x_backward_finish(scratch, inputs, outputs, kernelGradient);
}

void vae_deconv1x_single_forward(const float *x, int batch, int height, int width, int inputs, const float *kernel,
                                 const float *bias, float *y) {
    table_of(vae_kernel_build_in_use())->deconv1x_single_forward(x, batch, height, width, inputs, kernel, bias, y);
}

void vae_deconv1x_single_backward(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                  const float *kernel, float *kernelGradient, float *biasGradient, float *dyGrid,
                                  float *dx) {
    table_of(vae_kernel_build_in_use())->deconv1x_single_backward(dy, x, batch, height, width, inputs, kernel,
                                                                  kernelGradient, biasGradient, dyGrid, dx);
}

void vae_grids_from_images(const float *images, int batch, int height, int width, int channels, float *grids) {
    const int row = (width + 2) * channels;
    const size_t grid = (size_t)vae_grid_count(height, width, channels);
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < height; y++)
            memcpy(grids + n * grid + (size_t)(y + 1) * row + channels,
                   images + ((size_t)n * height + y) * width * channels, sizeof(float) * width * channels);
}

bool vae_kernel_build_runs_bf16(vae_kernel_build build) { return table_of(build)->deconv2x_pack_forward_bf16 != NULL; }

vae_deconv2x_bf16_room vae_deconv2x_bf16_room_of(int height, int width, int inputs, int outputs) {
    const size_t panel = (size_t)inputs * outputs, positionPairs = (size_t)(height * width + 1) / 2;
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    vae_deconv2x_bf16_room room = {
        .forwardImage = (size_t)vae_grid_count(height, width, inputs) / 2,
        .positionPairs = positionPairs * inputs,
        .backwardWork = max_size(outGrid / 2, positionPairs * outputs),
        .forwardOwn = 9 * panel / 2,
        .backwardOwn = 9 * panel + 9 * panel / 2,
    };
    // After the packed kernel, the kernel in bf16 while it is packed, then the calling thread's room.
    const size_t forward = room.forwardOwn + max_size(9 * panel / 2, room.forwardImage);
    const size_t backward = room.backwardOwn + max_size(9 * panel / 2, room.positionPairs + room.backwardWork);
    room.scratch = max_size(forward, backward);
    return room;
}

void vae_deconv2x_pack_forward_bf16(const float *kernel, int inputs, int outputs, float *scratch) {
    table_of(vae_kernel_build_in_use())->deconv2x_pack_forward_bf16(kernel, inputs, outputs, scratch);
}

void vae_deconv2x_forward_packed_bf16(const float *x, int batch, int height, int width, int inputs,
                                      const float *scratch, const float *bias, int outputs, bool relu, uint32_t *xWords,
                                      float *y) {
    table_of(vae_kernel_build_in_use())->deconv2x_forward_packed_bf16(x, batch, height, width, inputs, scratch, bias,
                                                                      outputs, relu, xWords, y);
}

void vae_deconv2x_pack_backward_bf16(const float *kernel, int inputs, int outputs, float *scratch) {
    table_of(vae_kernel_build_in_use())->deconv2x_pack_backward_bf16(kernel, inputs, outputs, scratch);
}

void vae_deconv2x_position_pairs_bf16(const float *x, int batch, int height, int width, int inputs, uint32_t *xPairs) {
    table_of(vae_kernel_build_in_use())->deconv2x_position_pairs_bf16(x, batch, height, width, inputs, xPairs);
}

void vae_deconv2x_backward_images_bf16(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                       int outputs, float *scratch, int tapFirst, int tapEnd, float *biasGradient,
                                       float *dx, bool dxIsGrid, const uint32_t *xPairs, uint32_t *work) {
    table_of(vae_kernel_build_in_use())->deconv2x_backward_images_bf16(dy, x, batch, height, width, inputs, outputs,
                                                                       scratch, tapFirst, tapEnd, biasGradient, dx,
                                                                       dxIsGrid, xPairs, work);
}

void vae_deconv2x_forward_bf16(const float *x, int batch, int height, int width, int inputs, const float *kernel,
                               const float *bias, int outputs, bool relu, float *scratch, float *y) {
    const vae_deconv2x_bf16_room room = vae_deconv2x_bf16_room_of(height, width, inputs, outputs);
    vae_deconv2x_pack_forward_bf16(kernel, inputs, outputs, scratch);
    vae_deconv2x_forward_packed_bf16(x, batch, height, width, inputs, scratch, bias, outputs, relu,
                                     (uint32_t *)(scratch + room.forwardOwn), y);
}

void vae_deconv2x_backward_bf16(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                int outputs, const float *kernel, float *scratch, float *kernelGradient,
                                float *biasGradient, float *dx, bool dxIsGrid) {
    const vae_deconv2x_bf16_room room = vae_deconv2x_bf16_room_of(height, width, inputs, outputs);
    uint32_t *xPairs = (uint32_t *)(scratch + room.backwardOwn), *work = xPairs + room.positionPairs;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const size_t dxImage = dxIsGrid ? inGrid : (size_t)height * width * inputs;
    vae_deconv2x_pack_backward_bf16(kernel, inputs, outputs, scratch);
    for (int n = 0; n < batch; n++) {
        vae_deconv2x_position_pairs_bf16(x + n * inGrid, 1, height, width, inputs, xPairs);
        vae_deconv2x_backward_images_bf16(dy + n * outGrid, x + n * inGrid, 1, height, width, inputs, outputs, scratch,
                                          0, 9, biasGradient, dx ? dx + n * dxImage : NULL, dxIsGrid, xPairs, work);
    }
    vae_deconv2x_backward_finish(scratch, inputs, outputs, kernelGradient);
}

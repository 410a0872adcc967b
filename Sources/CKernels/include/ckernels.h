#ifndef VAE_CKERNELS_H
#define VAE_CKERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Kernels written by hand in C, where Swift's code generation falls short: SIMD tiles with
// runtime dispatch to AVX2, and integer conversions without trapping checks.

// Block exact sums (BlockExactSum): one 64-bit integer a value, in units of 2^(exponent - 52)
// for a block whose every term is below 2^exponent in magnitude.

/// Returned by `vae_block_exponent` when a value is NaN or infinite.
#define VAE_NOT_FINITE 1000

/// The least e such that every value is below 2^e in magnitude (at least -125), or
/// VAE_NOT_FINITE.
int vae_block_exponent(const float *values, size_t count);

/// Adds each value, floored to a whole number of units, into `sums` (wrapping).
void vae_block_exact_add(const float *values, int64_t *sums, size_t count, int exponent);

/// `totals[i] = sums[i]` units, rounded to float32.
void vae_block_exact_total(const int64_t *sums, float *totals, size_t count, int exponent);

// The narrow encoding: one 32-bit integer a value, in units of 2^(exponent - precision), for
// sums of few enough terms that their total cannot leave int32's range (BlockExactSum.Encoding).

/// Adds each value, floored to a whole number of units of 2^(exponent - precision), into `sums`.
void vae_block_exact_add32(const float *values, int32_t *sums, size_t count, int exponent, int precision);

/// `totals[i] = sums[i]` units of 2^(exponent - precision), rounded to float32.
void vae_block_exact_total32(const int32_t *sums, float *totals, size_t count, int exponent, int precision);

// Adam's update as Keras computes it (float32, rounded after every operation), for `count`
// parameters with their moments `m` and `v` and their gradients `g`: m += (g - m)(1 - beta1),
// v += (g^2 - v)(1 - beta2), parameters -= m alpha / (sqrt(v) + epsilon).
void vae_adam_update(float *parameters, float *m, float *v, const float *g, size_t count, float alpha,
                     float oneMinusBeta1, float oneMinusBeta2, float epsilon);

// Direct kernels for the decoder's 3x3 transposed convolutions ("same" padding), written for
// its shapes: no patch matrices, no scatter, bias and ReLU fused into the products.
//
// Activations are "grids": each image's H x W x C values (channels innermost) inside a border
// of one zero cell, (H + 2) x (W + 2) x C floats an image. Every window then reads in bounds,
// so the inner loops have no branches. The kernels write only the interior: the caller zeroes
// a grid buffer once and its border stays zero.
//
// Kernels are in Keras's Conv2DTranspose layout [3][3][outputs][inputs]. Gradients are added
// into (the caller zeroes them); input gradients are overwritten. Each call sums in one fixed
// order, so equal inputs give equal bits.

/// Floats of one image's grid.
static inline int vae_grid_count(int height, int width, int channels) {
    return (height + 2) * (width + 2) * channels;
}

/// Copies `batch` plain H x W x C images into the interior of their grids.
void vae_grids_from_images(const float *images, int batch, int height, int width, int channels, float *grids);

/// Stride 2: H x W x inputs -> 2H x 2W x outputs; TensorFlow's "same" drops the last row and
/// column of the full transposed convolution. `outputs` must be a multiple of 16; `packed`
/// is scratch of at least 9 * inputs * outputs floats.
void vae_deconv2x_forward(const float *x, int batch, int height, int width, int inputs,
                          const float *kernel, const float *bias, int outputs, bool relu,
                          float *packed, float *y);

/// Backward of `vae_deconv2x_forward`. `dy`: grids of the output's gradient, already masked by
/// the layer's own activation. `x`: the forward's input grids, which are ReLU outputs, so the
/// input gradient is masked where they are zero. `dx` (may be NULL) gets grids when
/// `dxIsGrid`, plain H x W x inputs images otherwise. `inputs` and `outputs` must be multiples of 16;
/// `scratch` holds 18 * inputs * outputs floats.
void vae_deconv2x_backward(const float *dy, const float *x, int batch, int height, int width, int inputs,
                           int outputs, const float *kernel, float *scratch,
                           float *kernelGradient, float *biasGradient, float *dx, bool dxIsGrid);

/// The forward in two steps, so that threads sharing a batch pack the kernel once: `packed`
/// (9 * inputs * outputs floats) gets the kernel as the forward reads it, then any images
/// (offset x and y by their grids) are computed from it, each alike however they are grouped.
void vae_deconv2x_pack_forward(const float *kernel, int inputs, int outputs, float *packed);
void vae_deconv2x_forward_packed(const float *x, int batch, int height, int width, int inputs, const float *packed,
                                 const float *bias, int outputs, bool relu, float *y);

/// The backward in steps, which threads sharing a batch can divide: `pack_backward` zeroes the
/// kernel gradient's sum in `scratch` and packs the kernel there; `backward_images` adds `batch`
/// images' (offset dy, x and dx by theirs) gradients of the taps tapFirst ..< tapEnd to that
/// sum, their bias gradient if `biasGradient` is not NULL, and writes their input gradient if
/// `dx` is not NULL; `backward_finish` adds the sum into `kernelGradient`. A tap's sum and the
/// bias gradient take the images in the order they are given, so calls that give each one the
/// batch's images in order, whatever else they are split by, give the whole call's bits.
void vae_deconv2x_pack_backward(const float *kernel, int inputs, int outputs, float *scratch);
void vae_deconv2x_backward_images(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                  int outputs, float *scratch, int tapFirst, int tapEnd, float *biasGradient, float *dx,
                                  bool dxIsGrid);
void vae_deconv2x_backward_finish(const float *scratch, int inputs, int outputs, float *kernelGradient);

/// `vae_deconv2x_forward` and `_backward` in bfloat16: x, dy and the kernel rounded to bf16
/// (subnormals to zero), products summed in float32 as the CPU's vdpbf16ps does (see
/// transposed_convolution_bf16_body.h): every build that runs them gives the same bits; the
/// baseline build has none. `inputs` and `outputs` must be multiples of 16; `scratch` holds
/// `vae_deconv2x_bf16_room_of(...).scratch` floats.
void vae_deconv2x_forward_bf16(const float *x, int batch, int height, int width, int inputs,
                               const float *kernel, const float *bias, int outputs, bool relu,
                               float *scratch, float *y);
void vae_deconv2x_backward_bf16(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                int outputs, const float *kernel, float *scratch,
                                float *kernelGradient, float *biasGradient, float *dx, bool dxIsGrid);

/// What the bf16 layers need, in 32-bit words (floats) of room: `scratch` in all; a thread's
/// own room for one image's forward (`forwardImage`), for one image's weight-gradient pairs
/// (`positionPairs`) and for the rest of one image's backward (`backwardWork`); and where in
/// `scratch` such room for the calling thread starts, after what the forward or the backward
/// packs (`forwardOwn`, `backwardOwn`). Each room starts on a cache line when `scratch` does.
typedef struct {
    size_t scratch, forwardImage, positionPairs, backwardWork, forwardOwn, backwardOwn;
} vae_deconv2x_bf16_room;
vae_deconv2x_bf16_room vae_deconv2x_bf16_room_of(int height, int width, int inputs, int outputs);

/// The bf16 forward and backward in steps, as the float32 ones above, so that threads can
/// share a batch: `pack_forward_bf16` packs the kernel into `scratch`, and `forward_packed_bf16`
/// computes any images from it, converting each into `xWords` (`forwardImage` words of the
/// thread's own). `pack_backward_bf16` zeroes the kernel gradient's sum in `scratch` and packs
/// the kernel there; `position_pairs_bf16` writes `batch` images' weight-gradient operands
/// (`positionPairs` words each) into `xPairs`; `backward_images_bf16` is
/// `vae_deconv2x_backward_images` for them, reading the images' `xPairs` (for taps) and using
/// `work` (`backwardWork` words of the thread's own); `vae_deconv2x_backward_finish` ends it.
void vae_deconv2x_pack_forward_bf16(const float *kernel, int inputs, int outputs, float *scratch);
void vae_deconv2x_forward_packed_bf16(const float *x, int batch, int height, int width, int inputs,
                                      const float *scratch, const float *bias, int outputs, bool relu, uint32_t *xWords,
                                      float *y);
void vae_deconv2x_pack_backward_bf16(const float *kernel, int inputs, int outputs, float *scratch);
void vae_deconv2x_position_pairs_bf16(const float *x, int batch, int height, int width, int inputs, uint32_t *xPairs);
void vae_deconv2x_backward_images_bf16(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                       int outputs, float *scratch, int tapFirst, int tapEnd, float *biasGradient,
                                       float *dx, bool dxIsGrid, const uint32_t *xPairs, uint32_t *work);

/// Stride 1, one output channel: H x W x inputs grids -> plain H x W images (no activation).
/// `inputs` must be a multiple of 8 (the backward needs 32).
void vae_deconv1x_single_forward(const float *x, int batch, int height, int width, int inputs,
                                 const float *kernel, const float *bias, float *y);

/// Backward of `vae_deconv1x_single_forward`. `dy`: plain H x W gradients; `x`: the forward's
/// input grids (ReLU outputs: `dx`, grids, is masked where they are zero); `dyGrid`: scratch
/// of one image's grid, (H + 2) x (W + 2) floats. `inputs` must be a multiple of 32.
void vae_deconv1x_single_backward(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                  const float *kernel, float *kernelGradient, float *biasGradient,
                                  float *dyGrid, float *dx);

/// Row-major `C = alpha * op(A) * op(B) + beta * C`, op(A) m x k and op(B) k x n (the
/// transposes when asked), leading dimensions the row strides as stored. In a fixed order:
/// C is scaled by beta (not read when beta is 0), then every element gets
/// `C[i][j] += op(A)[i][p] * (alpha * op(B)[p][j])` for p = 0, 1, ..., k - 1, one fused
/// multiply-add each in the AVX2 and AVX-512 builds, which therefore give the same bits (the
/// baseline rounds each product and sum apart). The encoder's convolutions over patches and
/// the dense layers use it.
void vae_matrix_product(bool transposeA, bool transposeB, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc);

/// The passes beside the matrix products, row-major `rows x columns`: `vae_add_bias` adds `bias`
/// to every row, then takes max(v, 0) if `relu`; `vae_relu_backward` zeroes the gradient where
/// the unit's output was not positive; `vae_add_column_sums` adds each column's sum, rows in
/// order, into `sums`.
void vae_add_bias(float *values, size_t rows, size_t columns, const float *bias, bool relu);
void vae_relu_backward(float *gradient, const float *output, size_t count);
void vae_add_column_sums(const float *values, size_t rows, size_t columns, float *sums);

/// The loss's element-wise functions, in vectors, with the bits of glibc's expf (its FMA variant)
/// and log1pf on every CPU (logistic.c). `vae_exp`: e^x; `vae_log1p`: log(1 + x) for x >= 0.
void vae_exp(const float *x, float *y, size_t count);
void vae_log1p(const float *x, float *y, size_t count);
/// Binary cross-entropy of sigmoid(logit) against target, from the logit: returns the sum of
/// max(l, 0) - l y + log(1 + e^-|l|) over the values (each rounded to float, added in order in
/// double) and writes (sigmoid(l) - y) * gradientScale into `logitGradient`.
double vae_sigmoid_cross_entropy(const float *logits, const float *targets, size_t count, float gradientScale,
                                 float *logitGradient);
/// The logistic function in place, finite for any input.
void vae_sigmoid(float *values, size_t count);

/// Whether the C library's log, sin, cos and the like take their fused multiply-add variants on this
/// CPU (glibc chooses them at load time on CPUs with FMA and AVX2): they round differently.
bool vae_math_library_fuses_multiply_add(void);
/// The C library's version ("2.36"): another version may round log, sin and cos differently.
const char *vae_math_library_version(void);

/// Has the C library map blocks from 4 MB up and return them when freed, so that a process's
/// resident peak stays near the memory it uses at once.
void vae_c_library_return_big_blocks(void);

/// The builds of the hand-written kernels, chosen at run time: the best the CPU runs,
/// unless the process or a thread chooses another. A build keeps its results bit for bit at
/// any world size and thread count; the builds with FMA (all but the baseline) also give each
/// other's bits, in float32 (each output is the same chain of fused multiply-adds; the
/// avx512bf16 build runs the avx512 build's float32 kernels) and in bf16 (vdpbf16ps or its
/// emulation); the baseline's differ (no FMA).
typedef enum {
    VAE_KERNELS_BASELINE = 0,     // the compiler's default target (SSE2 on x86-64)
    VAE_KERNELS_AVX2 = 1,         // x86-64-v3: AVX2 + FMA, 16 vector registers
    VAE_KERNELS_AVX512 = 2,       // x86-64-v4: AVX-512 F/BW/CD/DQ/VL, 32 vector registers
    VAE_KERNELS_AVX512_BF16 = 3,  // the same and AVX512_BF16: the bf16 kernels on vdpbf16ps
    VAE_KERNEL_BUILDS = 4
} vae_kernel_build;

/// Whether `build` has the bf16 kernels (all but the baseline).
bool vae_kernel_build_runs_bf16(vae_kernel_build build);
/// Whether this CPU (and OS) can run `build`.
bool vae_kernel_build_available(vae_kernel_build build);
/// "baseline", "avx2", "avx512", "avx512bf16".
const char *vae_kernel_build_name(vae_kernel_build build);
/// The fastest build this CPU can run: the one used unless another is chosen.
vae_kernel_build vae_kernel_build_best(void);
/// The build the kernels use on the calling thread.
vae_kernel_build vae_kernel_build_in_use(void);
/// Chooses the process's build; false (and no change) if the CPU lacks it.
bool vae_kernel_build_use(vae_kernel_build build);
/// Chooses the calling thread's build, over the process's (-1: the process's again); false
/// (and no change) if the CPU lacks it.
bool vae_kernel_build_use_on_this_thread(int build);

#endif

#include "ckernels.h"

#include <stddef.h>
#include <string.h>

#if defined(__x86_64__)
// One binary for every x86-64: AVX2 + FMA code where the CPU has it, SSE2 code elsewhere.
#define KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif
// Helpers take no vector arguments (that would change the ABI between the clones); inlined,
// they are compiled for whichever clone calls them.
#define INLINE static inline __attribute__((always_inline))

// a * b + c as one fused multiply-add where the target has one.
#pragma clang fp contract(fast)

typedef float v8 __attribute__((ext_vector_type(8)));
typedef int v8i __attribute__((ext_vector_type(8)));
typedef float v8u __attribute__((ext_vector_type(8), aligned(4)));
#define LOAD(p) (*(const v8u *)(p))
#define STORE(p, v) (*(v8u *)(p) = (v))

// A register tile: 6 rows (broadcast scalars) x 16 columns (two vectors) = 12 accumulators,
// which leaves AVX2's other 4 registers for the operands.
enum { TILE_ROWS = 6, TILE_COLUMNS = 16 };

static inline int min_int(int a, int b) { return a < b ? a : b; }

// out[r][0..16) = sum over taps t and k < depth of a[t][r][k] * b[t][k * ldb + (0..16)].
INLINE void tile_product(int rows, int taps, const float *a[][TILE_ROWS], const float *const *b,
                         int depth, int ldb, float out[TILE_ROWS][TILE_COLUMNS]) {
    v8 low[TILE_ROWS], high[TILE_ROWS];
    for (int r = 0; r < rows; r++) { low[r] = 0; high[r] = 0; }
    for (int t = 0; t < taps; t++) {
        const float *row[TILE_ROWS];
        for (int r = 0; r < rows; r++) row[r] = a[t][r];
        const float *panel = b[t];
        for (int k = 0; k < depth; k++, panel += ldb) {
            v8 b0 = LOAD(panel), b1 = LOAD(panel + 8);
            for (int r = 0; r < rows; r++) {
                v8 scalar = row[r][k];
                low[r] = scalar * b0 + low[r];
                high[r] = scalar * b1 + high[r];
            }
        }
    }
    for (int r = 0; r < rows; r++) { STORE(out[r], low[r]); STORE(out[r] + 8, high[r]); }
}

// The same with the row count a constant in each copy, so the compiler unrolls the rows.
INLINE void tile_product_rows(int rows, int taps, const float *a[][TILE_ROWS], const float *const *b,
                              int depth, int ldb, float out[TILE_ROWS][TILE_COLUMNS]) {
    switch (rows) {
    case 6: tile_product(6, taps, a, b, depth, ldb, out); break;
    case 5: tile_product(5, taps, a, b, depth, ldb, out); break;
    case 4: tile_product(4, taps, a, b, depth, ldb, out); break;
    case 3: tile_product(3, taps, a, b, depth, ldb, out); break;
    case 2: tile_product(2, taps, a, b, depth, ldb, out); break;
    default: tile_product(1, taps, a, b, depth, ldb, out); break;
    }
}

// g[r][0..16) += sum over an H x W walk of x[r] * dy[0..16): a weight gradient tile, summed
// over positions while it stays in registers.
INLINE void outer_sum(int rows, const float *x, int xStep, int xRowStep, const float *dy, int dyStep,
                      int dyRowStep, int height, int width, float *g, int ldg) {
    v8 low[TILE_ROWS], high[TILE_ROWS];
    for (int r = 0; r < rows; r++) { low[r] = LOAD(g + r * ldg); high[r] = LOAD(g + r * ldg + 8); }
    for (int iy = 0; iy < height; iy++) {
        const float *xp = x + (size_t)iy * xRowStep, *dp = dy + (size_t)iy * dyRowStep;
        for (int ix = 0; ix < width; ix++, xp += xStep, dp += dyStep) {
            v8 d0 = LOAD(dp), d1 = LOAD(dp + 8);
            for (int r = 0; r < rows; r++) {
                v8 scalar = xp[r];
                low[r] = scalar * d0 + low[r];
                high[r] = scalar * d1 + high[r];
            }
        }
    }
    for (int r = 0; r < rows; r++) { STORE(g + r * ldg, low[r]); STORE(g + r * ldg + 8, high[r]); }
}

INLINE void outer_sum_rows(int rows, const float *x, int xStep, int xRowStep, const float *dy, int dyStep,
                           int dyRowStep, int height, int width, float *g, int ldg) {
    switch (rows) {
    case 6: outer_sum(6, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg); break;
    case 5: outer_sum(5, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg); break;
    case 4: outer_sum(4, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg); break;
    case 3: outer_sum(3, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg); break;
    case 2: outer_sum(2, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg); break;
    default: outer_sum(1, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg); break;
    }
}

void vae_grids_from_images(const float *images, int batch, int height, int width, int channels, float *grids) {
    const int row = (width + 2) * channels;
    const size_t grid = (size_t)vae_grid_count(height, width, channels);
    for (int n = 0; n < batch; n++)
        for (int y = 0; y < height; y++)
            memcpy(grids + n * grid + (size_t)(y + 1) * row + channels,
                   images + ((size_t)n * height + y) * width * channels, sizeof(float) * width * channels);
}

// Stride 2: output (2m + py, 2q + px) sums kernel rows ky = py (input row m) and, for
// py = 0, ky = 2 (input row m - 1); columns alike. So each of the four output phases is a
// product over 1, 2 or 4 taps, with the input rows read in place.
KERNEL void vae_deconv2x_forward(const float *x, int batch, int height, int width, int inputs,
                                 const float *kernel, const float *bias, int outputs, bool relu,
                                 float *packed, float *y) {
    const size_t panel = (size_t)inputs * outputs;
    const int blocks = outputs / TILE_COLUMNS;
    // [tap][output][input] -> [tap][16-output block][input][16]: a tile reads whole cache lines
    // of one block's panel in order.
    for (int tap = 0; tap < 9; tap++)
        for (int o = 0; o < outputs; o++)
            for (int i = 0; i < inputs; i++)
                packed[((size_t)(tap * blocks + o / TILE_COLUMNS) * inputs + i) * TILE_COLUMNS + o % TILE_COLUMNS] =
                    kernel[tap * panel + (size_t)o * inputs + i];
    const int inRow = (width + 2) * inputs, outRow = (2 * width + 2) * outputs;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const int positions = height * width;
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * inGrid;
        float *yg = y + n * outGrid;
        for (int py = 0; py < 2; py++) {
            for (int px = 0; px < 2; px++) {
                int taps = 0, tapIndex[4], rowShift[4], columnShift[4];
                for (int ky = py; ky < 3; ky += 2) {
                    for (int kx = px; kx < 3; kx += 2) {
                        tapIndex[taps] = ky * 3 + kx;
                        rowShift[taps] = (ky - py) / 2;
                        columnShift[taps] = (kx - px) / 2;
                        taps++;
                    }
                }
                for (int p0 = 0; p0 < positions; p0 += TILE_ROWS) {
                    const int rows = min_int(TILE_ROWS, positions - p0);
                    const float *a[4][TILE_ROWS];
                    float *c[TILE_ROWS];
                    for (int r = 0; r < rows; r++) {
                        const int m = (p0 + r) / width, q = (p0 + r) % width;
                        for (int t = 0; t < taps; t++)
                            a[t][r] = xg + (m - rowShift[t] + 1) * inRow + (q - columnShift[t] + 1) * inputs;
                        c[r] = yg + (2 * m + py + 1) * outRow + (2 * q + px + 1) * outputs;
                    }
                    // The tile's input rows stay in L1 while every block of outputs uses them.
                    for (int block = 0; block < blocks; block++) {
                        const int o0 = block * TILE_COLUMNS;
                        const float *b[4];
                        for (int t = 0; t < taps; t++)
                            b[t] = packed + (size_t)(tapIndex[t] * blocks + block) * inputs * TILE_COLUMNS;
                        float out[TILE_ROWS][TILE_COLUMNS];
                        tile_product_rows(rows, taps, a, b, inputs, TILE_COLUMNS, out);
                        for (int r = 0; r < rows; r++) {
                            for (int j = 0; j < TILE_COLUMNS; j++) {
                                const float value = out[r][j] + bias[o0 + j];
                                c[r][o0 + j] = relu && value < 0 ? 0 : value;
                            }
                        }
                    }
                }
            }
        }
    }
}

KERNEL void vae_deconv2x_backward(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                  int outputs, const float *kernel, float *scratch,
                                  float *kernelGradient, float *biasGradient, float *dx, bool dxIsGrid) {
    const size_t panel = (size_t)inputs * outputs;
    const int blocks = inputs / TILE_COLUMNS;
    const int inRow = (width + 2) * inputs, outRow = (2 * width + 2) * outputs;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const int positions = height * width;
    // The kernel gradient as [tap][input][output], summed here and added in Keras's layout at
    // the end; the kernel as [tap][16-input block][output][16], for the input gradient.
    float *packedGradient = scratch, *packed = scratch + 9 * panel;
    memset(packedGradient, 0, sizeof(float) * 9 * panel);
    for (int tap = 0; tap < 9; tap++)
        for (int o = 0; o < outputs; o++)
            for (int i = 0; i < inputs; i++)
                packed[((size_t)(tap * blocks + i / TILE_COLUMNS) * outputs + o) * TILE_COLUMNS + i % TILE_COLUMNS] =
                    kernel[tap * panel + (size_t)o * inputs + i];
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * inGrid, *dyg = dy + n * outGrid;

        for (int oy = 1; oy <= 2 * height; oy++)
            for (int ox = 1; ox <= 2 * width; ox++) {
                const float *g = dyg + oy * outRow + ox * outputs;
                for (int o = 0; o < outputs; o++) biasGradient[o] += g[o];
            }

        // Kernel: x at (iy, ix) times dy at (2iy + ky, 2ix + kx), two input rows at a time so
        // that their x and dy stay in L1 while every tap and tile walks them.
        for (int iy0 = 0; iy0 < height; iy0 += 2) {
            const int band = min_int(2, height - iy0);
            for (int ky = 0; ky < 3; ky++) {
                for (int kx = 0; kx < 3; kx++) {
                    float *g = packedGradient + (ky * 3 + kx) * panel;
                    const float *dyTap = dyg + (2 * iy0 + ky + 1) * outRow + (kx + 1) * outputs;
                    const float *xFirst = xg + (iy0 + 1) * inRow + inputs;
                    for (int i0 = 0; i0 < inputs; i0 += TILE_ROWS) {
                        const int rows = min_int(TILE_ROWS, inputs - i0);
                        for (int o0 = 0; o0 < outputs; o0 += TILE_COLUMNS)
                            outer_sum_rows(rows, xFirst + i0, inputs, inRow, dyTap + o0, 2 * outputs, 2 * outRow,
                                           band, width, g + (size_t)i0 * outputs + o0, outputs);
                    }
                }
            }
        }

        // Input: dx(iy, ix) = sum over taps of dy(2iy + ky, 2ix + kx) . kernel[tap], a stride-2
        // convolution.
        if (!dx) continue;
        float *dxImage = dx + n * (dxIsGrid ? inGrid : (size_t)positions * inputs);
        const int dxRow = dxIsGrid ? inRow : width * inputs, dxFirst = dxIsGrid ? inRow + inputs : 0;
        for (int p0 = 0; p0 < positions; p0 += TILE_ROWS) {
            const int rows = min_int(TILE_ROWS, positions - p0);
            const float *a[9][TILE_ROWS], *mask[TILE_ROWS];
            float *c[TILE_ROWS];
            for (int r = 0; r < rows; r++) {
                const int m = (p0 + r) / width, q = (p0 + r) % width;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        a[ky * 3 + kx][r] = dyg + (2 * m + ky + 1) * outRow + (2 * q + kx + 1) * outputs;
                mask[r] = xg + (m + 1) * inRow + (q + 1) * inputs;
                c[r] = dxImage + dxFirst + m * dxRow + q * inputs;
            }
            // The tile's dy rows stay in L1 while every block of inputs uses them.
            for (int block = 0; block < blocks; block++) {
                const int i0 = block * TILE_COLUMNS;
                const float *b[9];
                for (int tap = 0; tap < 9; tap++) b[tap] = packed + (size_t)(tap * blocks + block) * outputs * TILE_COLUMNS;
                float out[TILE_ROWS][TILE_COLUMNS];
                tile_product_rows(rows, 9, a, b, outputs, TILE_COLUMNS, out);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < TILE_COLUMNS; j++)
                        c[r][i0 + j] = mask[r][i0 + j] > 0 ? out[r][j] : 0;
            }
        }
    }
    for (int tap = 0; tap < 9; tap++)
        for (int o = 0; o < outputs; o++)
            for (int i = 0; i < inputs; i++)
                kernelGradient[tap * panel + (size_t)o * inputs + i] += packedGradient[tap * panel + (size_t)i * outputs + o];
}

// Pairwise sums of neighbouring lanes, a's then b's in each half: AVX's horizontal add.
#define PAIR_SUMS(a, b) (__builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + \
                         __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15))

// Stride 1, one output: y(oy, ox) = sum over taps of x(oy + 1 - ky, ox + 1 - kx) . kernel[tap].
// Eight output pixels at a time, each with one accumulator of 8 input channels (eight
// independent chains keep both FMA units busy); then one reduction turns the eight
// accumulators into the eight outputs.
enum { PIXELS = 8 };

KERNEL void vae_deconv1x_single_forward(const float *x, int batch, int height, int width, int inputs,
                                        const float *kernel, const float *bias, float *y) {
    const int row = (width + 2) * inputs, positions = height * width;
    const size_t grid = (size_t)vae_grid_count(height, width, inputs);
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * grid;
        float *image = y + (size_t)n * positions;
        for (int p0 = 0; p0 < positions; p0 += PIXELS) {
            // A last partial group repeats its last pixel, and stores only the real ones.
            const float *at[PIXELS];
            for (int j = 0; j < PIXELS; j++) {
                const int p = min_int(p0 + j, positions - 1);
                at[j] = xg + (p / width + 2) * row + (p % width + 2) * inputs;
            }
            v8 acc[PIXELS];
            for (int j = 0; j < PIXELS; j++) acc[j] = 0;
            for (int ky = 0; ky < 3; ky++) {
                for (int kx = 0; kx < 3; kx++) {
                    const float *k = kernel + (ky * 3 + kx) * inputs;
                    const int shift = -ky * row - kx * inputs;
                    for (int i = 0; i < inputs; i += 8) {
                        const v8 weights = LOAD(k + i);
                        for (int j = 0; j < PIXELS; j++) acc[j] = LOAD(at[j] + shift + i) * weights + acc[j];
                    }
                }
            }
            const v8 q0 = PAIR_SUMS(PAIR_SUMS(acc[0], acc[1]), PAIR_SUMS(acc[2], acc[3]));
            const v8 q1 = PAIR_SUMS(PAIR_SUMS(acc[4], acc[5]), PAIR_SUMS(acc[6], acc[7]));
            const v8 sums = __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 8, 9, 10, 11) +
                            __builtin_shufflevector(q0, q1, 4, 5, 6, 7, 12, 13, 14, 15);
            for (int j = 0; j < PIXELS && p0 + j < positions; j++) image[p0 + j] = sums[j] + bias[0];
        }
    }
}

KERNEL void vae_deconv1x_single_backward(const float *dy, const float *x, int batch, int height, int width, int inputs,
                                         const float *kernel, float *kernelGradient, float *biasGradient,
                                         float *dyGrid, float *dx) {
    const int row = (width + 2) * inputs, dyRow = width + 2;
    const size_t grid = (size_t)vae_grid_count(height, width, inputs);
    memset(dyGrid, 0, sizeof(float) * vae_grid_count(height, width, 1));
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * grid, *image = dy + (size_t)n * height * width;
        float *dxg = dx + n * grid;
        float biasSum = 0;
        for (int oy = 0; oy < height; oy++)
            for (int ox = 0; ox < width; ox++) {
                const float g = image[oy * width + ox];
                dyGrid[(oy + 1) * dyRow + ox + 1] = g;
                biasSum += g;
            }
        biasGradient[0] += biasSum;

        // Kernel: dy(oy, ox) times x(oy + 1 - ky, ox + 1 - kx), a kernel row's three taps and
        // 32 inputs at a time (12 accumulators: one broadcast of dy serves them all).
        for (int ky = 0; ky < 3; ky++) {
            for (int i = 0; i < inputs; i += 32) {
                float *k = kernelGradient + ky * 3 * inputs + i;
                v8 acc[3][4];
                for (int kx = 0; kx < 3; kx++)
                    for (int v = 0; v < 4; v++) acc[kx][v] = LOAD(k + kx * inputs + 8 * v);
                for (int oy = 0; oy < height; oy++) {
                    const float *xp = xg + (oy + 2 - ky) * row + 2 * inputs + i;   // x(oy + 1 - ky, ox + 1)
                    const float *gp = image + oy * width;
                    for (int ox = 0; ox < width; ox++, xp += inputs) {
                        const v8 g = gp[ox];
                        for (int kx = 0; kx < 3; kx++)
                            for (int v = 0; v < 4; v++) acc[kx][v] = g * LOAD(xp - kx * inputs + 8 * v) + acc[kx][v];
                    }
                }
                for (int kx = 0; kx < 3; kx++)
                    for (int v = 0; v < 4; v++) STORE(k + kx * inputs + 8 * v, acc[kx][v]);
            }
        }

        // Input: dx(iy, ix) = sum over taps of dy(iy + ky - 1, ix + kx - 1) * kernel[tap],
        // masked where the forward's input (a ReLU output) was zero.
        for (int iy = 0; iy < height; iy++) {
            for (int ix = 0; ix < width; ix++) {
                const size_t at = (size_t)(iy + 1) * row + (ix + 1) * inputs;
                for (int i = 0; i < inputs; i += 32) {
                    v8 acc[4] = {0, 0, 0, 0};
                    for (int tap = 0; tap < 9; tap++) {
                        const v8 g = dyGrid[(iy + tap / 3) * dyRow + ix + tap % 3];
                        const float *k = kernel + tap * inputs + i;
                        for (int v = 0; v < 4; v++) acc[v] = g * LOAD(k + 8 * v) + acc[v];
                    }
                    for (int v = 0; v < 4; v++) {
                        const v8i on = LOAD(xg + at + i + 8 * v) > 0;
                        STORE(dxg + at + i + 8 * v, (v8)((v8i)acc[v] & on));
                    }
                }
            }
        }
    }
}

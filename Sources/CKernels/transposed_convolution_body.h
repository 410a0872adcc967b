// The transposed-convolution kernels, written once for a vector width and included by
// transposed_convolution.c once per build. Before including, define:
//   BUILD     the build's name, appended to every function's name (baseline, avx2, avx512)
//   LANES     floats in one vector register: 8 (two SSE registers, or one AVX register) or 16
//   MAX_ROWS  rows of a register tile: its accumulators are MAX_ROWS x 2 vectors, sized so that
//             they and the two vectors of weights fill the build's vector registers (16 or 32)
// Every output element is one chain of fused multiply-adds in a fixed order (taps, then inputs,
// or positions for weight gradients) whatever the tile, so builds with FMA give the same bits.

#if LANES == 8
#define VEC v8
#define VECU v8u
#define BITS w8
#else
#define VEC v16
#define VECU v16u
#define BITS w16
#endif
#define LOADV(p) (*(const VECU *)(p))
#define STOREV(p, v) (*(VECU *)(p) = (v))

// A tile is at most two vectors wide: 2 * LANES columns of outputs (or of inputs, for the input
// gradient). Weight panels are packed in blocks of that width; a last block of 16 when the
// count is not a multiple of 2 * LANES.
#define TILE_COLUMNS (2 * LANES)

// Kernel rows whose gradients the output layer's backward sums at a time: all three where 32
// registers hold their accumulators (18), so that enough chains are in flight.
#define KERNEL_ROWS (LANES == 16 ? 3 : 1)
// Pixels whose input gradients the output layer's backward sums at a time: their accumulators
// (32 inputs each) and one tap's weights fill about half the vector registers.
#define DX_PIXELS (LANES == 16 ? 4 : 2)
// Output pixels of a row whose outputs the output layer's forward sums at a time: half the
// model's row of 28 where 32 registers hold their accumulators.
#define ROW_PIXELS (LANES == 16 ? 14 : 7)

// out->c[r][0..vectors * LANES) = sum over taps t and k < depth of a[t][r][k] * b[t][k][..],
// then the output's bias and ReLU or mask (see tile_output), straight from the registers.
INLINE void NAME(tile_product)(int rows, int vectors, int taps, const float *a[][MAX_ROWS], const float *const *b,
                               int depth, const tile_output *out) {
    VEC acc0[MAX_ROWS], acc1[MAX_ROWS];
    for (int r = 0; r < rows; r++) { acc0[r] = 0; acc1[r] = 0; }
    const int ldb = vectors * LANES;
    for (int t = 0; t < taps; t++) {
        const float *row[MAX_ROWS];
        for (int r = 0; r < rows; r++) row[r] = a[t][r];
        const float *panel = b[t];
        for (int k = 0; k < depth; k++, panel += ldb) {
            const VEC b0 = LOADV(panel), b1 = vectors > 1 ? LOADV(panel + LANES) : 0;
#pragma unroll
            for (int r = 0; r < rows; r++) {
                const VEC scalar = row[r][k];
                acc0[r] = scalar * b0 + acc0[r];
                if (vectors > 1) acc1[r] = scalar * b1 + acc1[r];
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        NAME(store_tile_vector)(out, r, 0, &acc0[r]);
        if (vectors > 1) NAME(store_tile_vector)(out, r, 1, &acc1[r]);
    }
}

// g[r][0..vectors * LANES) += sum over an H x W walk of x[r] * dy[..]: a weight gradient tile,
// summed over positions while it stays in registers.
INLINE void NAME(outer_sum)(int rows, int vectors, const float *x, int xStep, int xRowStep, const float *dy,
                            int dyStep, int dyRowStep, int height, int width, float *g, int ldg) {
    VEC acc0[MAX_ROWS], acc1[MAX_ROWS];
    for (int r = 0; r < rows; r++) {
        acc0[r] = LOADV(g + r * ldg);
        acc1[r] = vectors > 1 ? LOADV(g + r * ldg + LANES) : 0;
    }
    for (int iy = 0; iy < height; iy++) {
        const float *xp = x + (size_t)iy * xRowStep, *dp = dy + (size_t)iy * dyRowStep;
        for (int ix = 0; ix < width; ix++, xp += xStep, dp += dyStep) {
            const VEC d0 = LOADV(dp), d1 = vectors > 1 ? LOADV(dp + LANES) : 0;
#pragma unroll
            for (int r = 0; r < rows; r++) {
                const VEC scalar = xp[r];
                acc0[r] = scalar * d0 + acc0[r];
                if (vectors > 1) acc1[r] = scalar * d1 + acc1[r];
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        STOREV(g + r * ldg, acc0[r]);
        if (vectors > 1) STOREV(g + r * ldg + LANES, acc1[r]);
    }
}

// The same with the row and vector counts constants in each copy, so that the rows unroll
// (fully: else beyond 10 or so rows the accumulators live on the stack) into registers.
#define ONE_VECTOR_CASE(r, call) case r: call(r, 1); break;
#define TWO_VECTOR_CASE(r, call) case r: call(r, 2); break;
#define ROW_CASES(CASE, call) CASE(1, call) CASE(2, call) CASE(3, call) CASE(4, call) CASE(5, call) CASE(6, call) \
    EXTRA_ROW_CASES(CASE, call)
#if MAX_ROWS == 6
#define EXTRA_ROW_CASES(CASE, call)
#elif MAX_ROWS == 14
#define EXTRA_ROW_CASES(CASE, call) CASE(7, call) CASE(8, call) CASE(9, call) CASE(10, call) CASE(11, call) \
    CASE(12, call) CASE(13, call) CASE(14, call)
#else
#error "MAX_ROWS must be 6 or 14"
#endif

INLINE void NAME(tile_product_fixed)(int rows, int vectors, int taps, const float *a[][MAX_ROWS],
                                     const float *const *b, int depth, const tile_output *out) {
#define TILE_PRODUCT(r, v) NAME(tile_product)(r, v, taps, a, b, depth, out)
    if (vectors == 2) {
        switch (rows) { ROW_CASES(TWO_VECTOR_CASE, TILE_PRODUCT) }
    } else {
        switch (rows) { ROW_CASES(ONE_VECTOR_CASE, TILE_PRODUCT) }
    }
#undef TILE_PRODUCT
}

INLINE void NAME(outer_sum_fixed)(int rows, int vectors, const float *x, int xStep, int xRowStep, const float *dy,
                                  int dyStep, int dyRowStep, int height, int width, float *g, int ldg) {
#define OUTER_SUM(r, v) NAME(outer_sum)(r, v, x, xStep, xRowStep, dy, dyStep, dyRowStep, height, width, g, ldg)
    if (vectors == 2) {
        switch (rows) { ROW_CASES(TWO_VECTOR_CASE, OUTER_SUM) }
    } else {
        switch (rows) { ROW_CASES(ONE_VECTOR_CASE, OUTER_SUM) }
    }
#undef OUTER_SUM
}

// Columns of the block of `count` columns that starts at `first`; packed panels hold their
// blocks one after another, each [depth][its columns].
INLINE int NAME(block_columns)(int first, int count) { return min_int(TILE_COLUMNS, count - first); }

// Packs each tap's `columnCount` x `depth` slice of a Keras kernel, element (c, d) at
// kernel[tap * panel + c * columnStride + d * depthStride], into blocks of TILE_COLUMNS columns,
// each [depth][its columns]: a tile then reads whole cache lines of one block in order.
INLINE void NAME(pack_panels)(const float *kernel, size_t panel, int columnCount, int columnStride, int depth,
                              int depthStride, float *packed) {
    for (int tap = 0; tap < 9; tap++)
        for (int c0 = 0; c0 < columnCount; c0 += TILE_COLUMNS) {
            const int columns = NAME(block_columns)(c0, columnCount);
            float *block = packed + tap * panel + (size_t)c0 * depth;
            const float *source = kernel + tap * panel + (size_t)c0 * columnStride;
            if (depthStride == 1 && columns % 8 == 0 && depth % 8 == 0) {   // a transpose, in 8 x 8 blocks
                for (int d = 0; d < depth; d += 8)
                    for (int j = 0; j < columns; j += 8)
                        transpose_block8(source + (size_t)j * columnStride + d, columnStride, block + d * columns + j,
                                         columns, false);
                continue;
            }
            for (int d = 0; d < depth; d++)
                for (int j = 0; j < columns; j++)
                    block[d * columns + j] = source[(size_t)j * columnStride + (size_t)d * depthStride];
        }
}

// [tap][output][input] -> [tap][output block][input][block's columns].
static void NAME(deconv2x_pack_forward)(const float *kernel, int inputs, int outputs, float *packed) {
    NAME(pack_panels)(kernel, (size_t)inputs * outputs, outputs, inputs, inputs, 1, packed);
}

// Stride 2: output (2m + py, 2q + px) sums kernel rows ky = py (input row m) and, for
// py = 0, ky = 2 (input row m - 1); columns alike. So each of the four output phases is a
// product over 1, 2 or 4 taps, with the input rows read in place.
static void NAME(deconv2x_forward_packed)(const float *x, int batch, int height, int width, int inputs,
                                          const float *packed, const float *bias, int outputs, bool relu, float *y) {
    const size_t panel = (size_t)inputs * outputs;
    const int inRow = (width + 2) * inputs, outRow = (2 * width + 2) * outputs;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const int positions = height * width, tileRows = even_tile_rows(positions, MAX_ROWS);
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * inGrid;
        float *yg = y + n * outGrid;
        for (int py = 0; py < 2; py++) {
            for (int px = 0; px < 2; px++) {
                const phase_taps taps = taps_of_phase(py, px);
                for (int p0 = 0; p0 < positions; p0 += tileRows) {
                    const int rows = min_int(tileRows, positions - p0);
                    const float *a[4][MAX_ROWS];
                    float *c[MAX_ROWS];
                    for (int r = 0; r < rows; r++) {
                        const size_t cell = interior_cell(p0 + r, width, inRow, inputs);
                        for (int t = 0; t < taps.count; t++)
                            a[t][r] = xg + phase_tap_cell(&taps, t, cell, inRow, inputs);
                        c[r] = yg + upsampled_cell(p0 + r, width, py, px, outRow, outputs);
                    }
                    // The tile's input rows stay in L1 while every block of outputs uses them.
                    for (int o0 = 0; o0 < outputs; o0 += TILE_COLUMNS) {
                        const int columns = NAME(block_columns)(o0, outputs);
                        const float *b[4];
                        for (int t = 0; t < taps.count; t++) b[t] = packed + taps.index[t] * panel + (size_t)o0 * inputs;
                        float *columnsOut[MAX_ROWS];
                        for (int r = 0; r < rows; r++) columnsOut[r] = c[r] + o0;
                        const tile_output out = {.c = columnsOut, .bias = bias + o0, .relu = relu};
                        NAME(tile_product_fixed)(rows, columns / LANES, taps.count, a, b, inputs, &out);
                    }
                }
            }
        }
    }
}

// The kernel gradient as [tap][input][output], summed in the backward's scratch and added in
// Keras's layout at the end; the kernel as [tap][input block][output][block's columns], for the
// input gradient.
static void NAME(deconv2x_pack_backward)(const float *kernel, int inputs, int outputs, float *scratch) {
    const size_t panel = (size_t)inputs * outputs;
    memset(scratch, 0, sizeof(float) * 9 * panel);
    NAME(pack_panels)(kernel, panel, inputs, 1, outputs, inputs, scratch + 9 * panel);
}

static void NAME(deconv2x_backward_images)(const float *dy, const float *x, int batch, int height, int width,
                                           int inputs, int outputs, float *scratch, int tapFirst, int tapEnd,
                                           float *biasGradient, float *dx, bool dxIsGrid) {
    const size_t panel = (size_t)inputs * outputs;
    const int inRow = (width + 2) * inputs, outRow = (2 * width + 2) * outputs;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const int positions = height * width, tileRows = even_tile_rows(positions, MAX_ROWS);
    const int gradientRows = even_tile_rows(inputs, MAX_ROWS);
    float *packedGradient = scratch;
    const float *packed = scratch + 9 * panel;
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * inGrid, *dyg = dy + n * outGrid;

        if (biasGradient) add_bias_gradient(dyg, 2 * height, 2 * width, outputs, biasGradient);

        // Kernel: x at (iy, ix) times dy at (2iy + ky, 2ix + kx), a tile's sums kept in registers
        // over the whole image while x and dy stream from L2: summing two rows at a time, to keep
        // them in L1, loaded and stored the sums every 14 or 28 positions (13-24% slower in the
        // AVX-512 build on an Intel Xeon of 48 KiB L1, a little in the AVX2 build). Same order.
        for (int tap = tapFirst; tap < tapEnd; tap++) {
            const int ky = tap / 3, kx = tap % 3;
            float *g = packedGradient + tap * panel;
            const float *dyTap = dyg + (ky + 1) * outRow + (kx + 1) * outputs;
            const float *xFirst = xg + inRow + inputs;
            for (int i0 = 0; i0 < inputs; i0 += gradientRows) {
                const int rows = min_int(gradientRows, inputs - i0);
                for (int o0 = 0; o0 < outputs; o0 += TILE_COLUMNS)
                    NAME(outer_sum_fixed)(rows, NAME(block_columns)(o0, outputs) / LANES, xFirst + i0, inputs,
                                          inRow, dyTap + o0, 2 * outputs, 2 * outRow, height, width,
                                          g + (size_t)i0 * outputs + o0, outputs);
            }
        }

        // Input: dx(iy, ix) = sum over taps of dy(2iy + ky, 2ix + kx) . kernel[tap], a stride-2
        // convolution.
        if (!dx) continue;
        float *dxImage = dx + n * (dxIsGrid ? inGrid : (size_t)positions * inputs);
        const int dxRow = dxIsGrid ? inRow : width * inputs, dxFirst = dxIsGrid ? inRow + inputs : 0;
        for (int p0 = 0; p0 < positions; p0 += tileRows) {
            const int rows = min_int(tileRows, positions - p0);
            const float *a[9][MAX_ROWS], *mask[MAX_ROWS];
            float *c[MAX_ROWS];
            for (int r = 0; r < rows; r++) {
                const int m = (p0 + r) / width, q = (p0 + r) % width;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        a[ky * 3 + kx][r] = dyg + upsampled_cell(p0 + r, width, ky, kx, outRow, outputs);
                mask[r] = xg + interior_cell(p0 + r, width, inRow, inputs);
                c[r] = dxImage + dxFirst + m * dxRow + q * inputs;
            }
            // The tile's dy rows stay in L1 while every block of inputs uses them.
            for (int i0 = 0; i0 < inputs; i0 += TILE_COLUMNS) {
                const int columns = NAME(block_columns)(i0, inputs);
                const float *b[9];
                for (int tap = 0; tap < 9; tap++) b[tap] = packed + tap * panel + (size_t)i0 * outputs;
                float *columnsOut[MAX_ROWS];
                const float *columnsMask[MAX_ROWS];
                for (int r = 0; r < rows; r++) { columnsOut[r] = c[r] + i0; columnsMask[r] = mask[r] + i0; }
                const tile_output out = {.c = columnsOut, .mask = columnsMask};
                NAME(tile_product_fixed)(rows, columns / LANES, 9, a, b, outputs, &out);
            }
        }
    }
}

// The output layer (stride 1, one output channel) sums in 8-lane chains in every build: its
// sums are short (32 inputs a tap), and the same lanes keep its bits the same in every FMA build
// (the AVX-512 build's forward carries two pixels' chains in one vector, below).

// out[j] = the sum of pixel j's 8 lanes + bias, for j in first ..< group, eight pixels a
// reduction in one fixed tree for every pixel; `acc` has room for `group` rounded up to 8 (a last
// partial eight repeats its last pixel).
INLINE void NAME(store_pixel_sums)(v8 *acc, int group, int first, float bias, float *out) {
    for (int j = group; j < ((group + 7) & ~7); j++) acc[j] = acc[group - 1];
    for (int j0 = 0; j0 < group; j0 += 8) {
        const v8 *a = acc + j0;
        const v8 q0 = PAIR_SUMS(PAIR_SUMS(a[0], a[1]), PAIR_SUMS(a[2], a[3]));
        const v8 q1 = PAIR_SUMS(PAIR_SUMS(a[4], a[5]), PAIR_SUMS(a[6], a[7]));
        const v8 sums = __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 8, 9, 10, 11) +
                        __builtin_shufflevector(q0, q1, 4, 5, 6, 7, 12, 13, 14, 15);
        for (int j = max_int(first, j0); j < min_int(group, j0 + 8); j++) out[j] = sums[j - j0] + bias;
    }
}

// Stride 1, one output: y(oy, ox) = sum over taps of x(oy + 1 - ky, ox + 1 - kx) . kernel[tap].
// `group` neighbouring output pixels of a row at a time, each with one accumulator of 8 input
// channels (independent chains keep both FMA units busy), read at fixed displacements from one
// pointer; then each pixel's 8 lanes are summed in one fixed tree, so the grouping never shows
// in the bits. Stores the pixels from `first` on.
// Inlined with `group` and `inputs` constants (the model's inputs: 32), so that the taps and
// the pixels unroll (the copy for other input counts cannot unroll, which is no fault).
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpass-failed"
INLINE void NAME(output_pixels)(int group, const float *at, int row, int inputs, const float *kernel, float bias,
                                int first, float *out) {
    v8 acc[ROW_PIXELS + 7];
    for (int j = 0; j < group; j++) acc[j] = 0;
    for (int ky = 0; ky < 3; ky++) {
#pragma unroll
        for (int kx = 0; kx < 3; kx++) {
            const float *k = kernel + (ky * 3 + kx) * inputs, *x = at - ky * row - kx * inputs;
#pragma unroll
            for (int i = 0; i < inputs; i += 8) {
                const v8 weights = LOAD8(k + i);
#pragma unroll
                for (int j = 0; j < group; j++) acc[j] = LOAD8(x + j * inputs + i) * weights + acc[j];
            }
        }
    }
    NAME(store_pixel_sums)(acc, group, first, bias, out);
}

#if LANES == 16
// Rows of an even width up to 28 over 32 inputs (the model's: 28), on full 16-lane vectors: pixel
// ox and pixel ox + width/2 of a row share a vector, the first's 8-lane sum in the low half and
// the second's in the high, each the same chain as in the 8-lane path. Each grid row is first
// laid out once as such pairs, [cell c | cell c + width/2] per 8 inputs, c in 0 ..< width/2 + 2,
// so that every tap reads a pair with one load.
#define PAIRED_MAX_HALF 14
INLINE void NAME(pair_grid_row)(const float *gridRow, int half, float *paired) {
    for (int c = 0; c < half + 2; c++)
        for (int b = 0; b < 4; b++)
            *(v16u *)(paired + (c * 4 + b) * 16) =
                __builtin_shufflevector(LOAD8(gridRow + c * 32 + 8 * b), LOAD8(gridRow + (c + half) * 32 + 8 * b),
                                        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// store_pixel_sums on pairs: the same tree for each pixel's 8 lanes (the shuffles stay within
// each 128-bit quarter, so each half of a vector is reduced as an 8-lane vector would be), eight
// pairs at a time; out[j] and out[j + half] for j < half get pair j's two sums + bias.
#define PAIR_SUMS16(a, b) (__builtin_shufflevector(a, b, 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30) + \
                           __builtin_shufflevector(a, b, 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13, 15, 29, 31))
INLINE void NAME(store_pair_sums)(v16 *acc, int half, float bias, float *out) {
    for (int j = half; j < ((half + 7) & ~7); j++) acc[j] = acc[half - 1];
    for (int j0 = 0; j0 < half; j0 += 8) {
        const v16 *a = acc + j0;
        const v16 q0 = PAIR_SUMS16(PAIR_SUMS16(a[0], a[1]), PAIR_SUMS16(a[2], a[3]));
        const v16 q1 = PAIR_SUMS16(PAIR_SUMS16(a[4], a[5]), PAIR_SUMS16(a[6], a[7]));
        const v16 sums = (__builtin_shufflevector(q0, q1, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
                          __builtin_shufflevector(q0, q1, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)) + bias;
        const int count = min_int(8, half - j0);
        if (count == 8) {
            STORE8(out + j0, __builtin_shufflevector(sums, sums, 0, 1, 2, 3, 4, 5, 6, 7));
            STORE8(out + j0 + half, __builtin_shufflevector(sums, sums, 8, 9, 10, 11, 12, 13, 14, 15));
        } else {
            for (int j = 0; j < count; j++) {
                out[j0 + j] = sums[j];
                out[j0 + j + half] = sums[8 + j];
            }
        }
    }
}
#undef PAIR_SUMS16

INLINE void NAME(deconv1x_paired_forward_image)(const float *xg, int height, int width, const float *kernel,
                                                float bias, float *image) {
    const int row = (width + 2) * 32, half = width / 2;
    // Grid rows oy, oy + 1 and oy + 2 as pairs, grid row g at g % 3.
    float paired[3][(PAIRED_MAX_HALF + 2) * 4 * 16] __attribute__((aligned(64)));
    NAME(pair_grid_row)(xg, half, paired[0]);
    NAME(pair_grid_row)(xg + row, half, paired[1]);
    for (int oy = 0; oy < height; oy++) {
        NAME(pair_grid_row)(xg + (oy + 2) * row, half, paired[(oy + 2) % 3]);
        v16 acc[PAIRED_MAX_HALF + 2];
        for (int j = 0; j < half; j++) acc[j] = 0;
        for (int ky = 0; ky < 3; ky++) {
            // x(oy + 1 - ky, ox + 1 - kx) is grid cell (oy + 2 - ky, ox + 2 - kx).
            const float *rowPairs = paired[(oy + 2 - ky) % 3];
#pragma unroll
            for (int kx = 0; kx < 3; kx++) {
#pragma unroll
                for (int b = 0; b < 4; b++) {
                    const v8 w = LOAD8(kernel + (ky * 3 + kx) * 32 + 8 * b);
                    v16 weights = __builtin_shufflevector(w, w, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
                    // In a register for its pixels here: hoisted out of the rows, the 36 of them
                    // would not fit, and each multiply-add would load its weights again.
                    __asm__("" : "+v"(weights));
                    const float *at = rowPairs + ((2 - kx) * 4 + b) * 16;
#pragma unroll
                    for (int j = 0; j < PAIRED_MAX_HALF; j++)
                        if (j < half) acc[j] = LOADV(at + j * 64) * weights + acc[j];
                }
            }
        }
        NAME(store_pair_sums)(acc, half, bias, image + oy * width);
    }
}
#endif

// One image, a row at a time: groups of ROW_PIXELS, the last one moved back to end at the row's
// end (its overlap is computed twice, the same bits both times); rows narrower than a group one
// pixel at a time.
INLINE void NAME(deconv1x_single_forward_image)(const float *xg, int height, int width, int inputs,
                                                const float *kernel, const float *bias, float *image) {
#if LANES == 16
    if (inputs == 32 && width % 2 == 0 && width <= 2 * PAIRED_MAX_HALF) {
        // The model's width as a constant, so that its pairs unroll without tests.
        if (width == 28)
            NAME(deconv1x_paired_forward_image)(xg, height, 28, kernel, bias[0], image);
        else
            NAME(deconv1x_paired_forward_image)(xg, height, width, kernel, bias[0], image);
        return;
    }
#endif
    const int row = (width + 2) * inputs;
    for (int oy = 0; oy < height; oy++) {
        // x(oy + 1 - ky, ox + 1 - kx) at ky = kx = 0 is the grid's cell (oy + 2, ox + 2).
        const float *at = xg + (oy + 2) * row + 2 * inputs;
        float *out = image + oy * width;
        if (width < ROW_PIXELS) {
            for (int ox = 0; ox < width; ox++)
                NAME(output_pixels)(1, at + ox * inputs, row, inputs, kernel, bias[0], 0, out + ox);
            continue;
        }
        for (int done = 0; done < width; done += ROW_PIXELS) {
            const int ox0 = min_int(done, width - ROW_PIXELS);
            NAME(output_pixels)(ROW_PIXELS, at + ox0 * inputs, row, inputs, kernel, bias[0], done - ox0, out + ox0);
        }
    }
}

static void NAME(deconv1x_single_forward)(const float *x, int batch, int height, int width, int inputs,
                                          const float *kernel, const float *bias, float *y) {
    const size_t grid = (size_t)vae_grid_count(height, width, inputs), positions = (size_t)height * width;
    for (int n = 0; n < batch; n++) {
        if (inputs == 32)
            NAME(deconv1x_single_forward_image)(x + n * grid, height, width, 32, kernel, bias, y + n * positions);
        else
            NAME(deconv1x_single_forward_image)(x + n * grid, height, width, inputs, kernel, bias, y + n * positions);
    }
}
#pragma clang diagnostic pop

static void NAME(deconv1x_single_backward)(const float *dy, const float *x, int batch, int height, int width,
                                           int inputs, const float *kernel, float *kernelGradient,
                                           float *biasGradient, float *dyGrid, float *dx) {
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

        // Kernel: dy(oy, ox) times x(oy + 1 - ky, ox + 1 - kx), KERNEL_ROWS kernel rows' taps and
        // 32 inputs at a time (one broadcast of dy serves all their accumulators).
        for (int ky0 = 0; ky0 < 3; ky0 += KERNEL_ROWS) {
            for (int i = 0; i < inputs; i += 32) {
                float *k = kernelGradient + ky0 * 3 * inputs + i;
                VEC acc[KERNEL_ROWS][3][32 / LANES];
                for (int dky = 0; dky < KERNEL_ROWS; dky++)
                    for (int kx = 0; kx < 3; kx++)
                        for (int v = 0; v < 32 / LANES; v++)
                            acc[dky][kx][v] = LOADV(k + (dky * 3 + kx) * inputs + LANES * v);
                for (int oy = 0; oy < height; oy++) {
                    const float *xp = xg + (oy + 2 - ky0) * row + 2 * inputs + i;   // x(oy + 1 - ky0, ox + 1)
                    const float *gp = image + oy * width;
                    for (int ox = 0; ox < width; ox++, xp += inputs) {
                        const VEC g = gp[ox];
#pragma unroll
                        for (int dky = 0; dky < KERNEL_ROWS; dky++)
                            for (int kx = 0; kx < 3; kx++)
                                for (int v = 0; v < 32 / LANES; v++)
                                    acc[dky][kx][v] = g * LOADV(xp - dky * row - kx * inputs + LANES * v) + acc[dky][kx][v];
                    }
                }
                for (int dky = 0; dky < KERNEL_ROWS; dky++)
                    for (int kx = 0; kx < 3; kx++)
                        for (int v = 0; v < 32 / LANES; v++)
                            STOREV(k + (dky * 3 + kx) * inputs + LANES * v, acc[dky][kx][v]);
            }
        }

        // Input: dx(iy, ix) = sum over taps of dy(iy + ky - 1, ix + kx - 1) * kernel[tap],
        // masked where the forward's input (a ReLU output) was zero. DX_PIXELS neighbours at a
        // time, so that enough chains of nine taps are in flight to keep the FMA units busy; a
        // last partial group repeats its last pixel and stores only the real ones.
        for (int iy = 0; iy < height; iy++) {
            for (int ix0 = 0; ix0 < width; ix0 += DX_PIXELS) {
                const int count = min_int(DX_PIXELS, width - ix0);
                for (int i = 0; i < inputs; i += 32) {
                    VEC acc[DX_PIXELS][32 / LANES];
                    for (int j = 0; j < DX_PIXELS; j++)
                        for (int v = 0; v < 32 / LANES; v++) acc[j][v] = 0;
                    for (int tap = 0; tap < 9; tap++) {
                        const float *k = kernel + tap * inputs + i;
                        const float *g = dyGrid + (iy + tap / 3) * dyRow + ix0 + tap % 3;
                        VEC weights[32 / LANES];
                        for (int v = 0; v < 32 / LANES; v++) weights[v] = LOADV(k + LANES * v);
#pragma unroll
                        for (int j = 0; j < DX_PIXELS; j++) {
                            const VEC gradient = g[min_int(j, count - 1)];
                            for (int v = 0; v < 32 / LANES; v++) acc[j][v] = gradient * weights[v] + acc[j][v];
                        }
                    }
                    for (int j = 0; j < count; j++) {
                        const size_t at = (size_t)(iy + 1) * row + (ix0 + j + 1) * inputs + i;
                        for (int v = 0; v < 32 / LANES; v++) {
                            const BITS on = (BITS)(LOADV(xg + at + LANES * v) > 0);
                            STOREV(dxg + at + LANES * v, (VEC)((BITS)acc[j][v] & on));
                        }
                    }
                }
            }
        }
    }
}

#undef VEC
#undef VECU
#undef BITS
#undef DX_PIXELS
#undef ROW_PIXELS
#undef KERNEL_ROWS
#undef LOADV
#undef STOREV
#undef TILE_COLUMNS
#undef EXTRA_ROW_CASES
#undef PAIRED_MAX_HALF

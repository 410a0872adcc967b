// The stride-2 transposed convolutions in bfloat16: inputs rounded to bf16, products summed in
// float32, written once and included by transposed_convolution.c once per build. Define:
//   BUILD       the build's name, appended to every function's name
//   LANES       floats in one vector register: 8 or 16
//   PAIR_ROWS   rows of a register tile, sized to the build's vector registers
//   NATIVE_BF16 1 where the CPU's vdpbf16ps computes each step, 0 where two fused multiply-adds
//               emulate it under flush-to-zero
//
// Every reduction runs over pairs of bf16 values (a pair is one 32-bit word, the even element
// in its low half). One step adds a pair's two products to an fp32 accumulator as vdpbf16ps
// does: the odd element's product first, then the even one's, each one fused multiply-add with
// subnormal inputs and results flushed to zero. Emulated and native steps so give the same bits,
// and each output is one chain of steps in a fixed order (taps, then pairs; or images, then
// position pairs for weight gradients), whatever the tile.

#if LANES == 8
#define VEC v8
#define VECU v8u
#define WORDS w8
#define WORDSU w8u
#else
#define VEC v16
#define VECU v16u
#define WORDS w16
#define WORDSU w16u
#endif
#define LOADV(p) (*(const VECU *)(p))
#define STOREV(p, v) (*(VECU *)(p) = (v))
#define LOAD_WORDS(p) (*(const WORDSU *)(p))

#define PAIR_COLUMNS (2 * LANES)

// The bf16 halves of pair words as floats: a bf16 value is a float's high 16 bits.
#define EVEN_HALF(w) ((VEC)((w) << 16))
#define ODD_HALF(w) ((VEC)((w) & 0xffff0000u))

#if !NATIVE_BF16
// The emulation's two fused multiply-adds must flush subnormals as the dot-product unit does.
// Out of line, so that no arithmetic of the caller's runs under the changed rounding state.
__attribute__((noinline)) static unsigned NAME(flush_subnormals_begin)(void) {
    const unsigned state = _mm_getcsr();
    _mm_setcsr(state | 0x8040);   // FTZ and DAZ
    return state;
}
__attribute__((noinline)) static void NAME(flush_subnormals_end)(unsigned state) { _mm_setcsr(state); }
#endif

// bf16_pairs, on vcvtne2ps2bf16 where the CPU has it: the same rounding (to nearest even,
// subnormals to signed zero, NaN quieted), so the same words.
INLINE void NAME(to_pairs)(const float *values, size_t count, uint32_t *pairs) {
    size_t k = 0;
#if NATIVE_BF16
    for (; k + 16 <= count; k += 16) {
        const __m512 low = _mm512_loadu_ps(values + 2 * k), high = _mm512_loadu_ps(values + 2 * k + 16);
        _mm512_storeu_si512(pairs + k, (__m512i)_mm512_cvtne2ps_pbh(high, low));
    }
#endif
    bf16_pairs(values + 2 * k, count - k, pairs + k);
}

// bf16_zip, on vcvtne2ps2bf16 where the CPU has it: a row's sixteen halves beside the other's.
INLINE void NAME(zip_pairs)(const float *first, const float *second, int count, uint32_t *pairs) {
    int j = 0;
#if NATIVE_BF16
    const __m512i beside = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                            23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (; j + 16 <= count; j += 16) {
        const __m512 low = _mm512_loadu_ps(first + j), high = second ? _mm512_loadu_ps(second + j) : _mm512_setzero_ps();
        const __m512i halves = (__m512i)_mm512_cvtne2ps_pbh(high, low);   // low's sixteen, then high's
        _mm512_storeu_si512(pairs + j, _mm512_permutexvar_epi16(beside, halves));
    }
#endif
    bf16_zip(first + j, second ? second + j : NULL, count - j, pairs + j);
}

// out->c[r][0..vectors * LANES) (+)= sum over taps t and pairs k < pairs of a[t][r][k * lda] .
// b[t][k * ldb ..], then the output's bias, ReLU or mask (see tile_output). A nonzero
// `rowStep` says the rows are evenly spaced (a[t][r] = a[t][0] + r * rowStep): a constant here,
// one address register then serves every row of a tap, where 14 row pointers would not fit in
// the 16 general registers beside the loop's own.
INLINE void NAME(pair_tile)(int rows, int vectors, int rowStep, int taps, const uint32_t *a[][PAIR_ROWS], int lda,
                            const uint32_t *const *b, int pairs, int ldb, const tile_output *out) {
    VEC acc0[PAIR_ROWS], acc1[PAIR_ROWS];
    for (int r = 0; r < rows; r++) {
        acc0[r] = out->accumulate ? LOADV(out->c[r]) : 0;
        acc1[r] = out->accumulate && vectors > 1 ? LOADV(out->c[r] + LANES) : 0;
    }
#if !NATIVE_BF16
    const unsigned state = NAME(flush_subnormals_begin)();
#endif
    for (int t = 0; t < taps; t++) {
        const uint32_t *row[PAIR_ROWS];
        for (int r = 0; r < rows; r++) row[r] = rowStep ? a[t][0] + r * rowStep : a[t][r];
        const uint32_t *panel = b[t];
        for (int k = 0, ak = 0; k < pairs; k++, ak += lda, panel += ldb) {
            const WORDS b0 = LOAD_WORDS(panel), b1 = vectors > 1 ? LOAD_WORDS(panel + LANES) : 0;
#if NATIVE_BF16
#pragma unroll
            for (int r = 0; r < rows; r++) {
                const __m512bh s = (__m512bh)(WORDS)row[r][ak];
                acc0[r] = (VEC)_mm512_dpbf16_ps((__m512)acc0[r], s, (__m512bh)b0);
                if (vectors > 1) acc1[r] = (VEC)_mm512_dpbf16_ps((__m512)acc1[r], s, (__m512bh)b1);
            }
#else
            const VEC b0even = EVEN_HALF(b0), b0odd = ODD_HALF(b0);
            const VEC b1even = EVEN_HALF(b1), b1odd = ODD_HALF(b1);
#pragma unroll
            for (int r = 0; r < rows; r++) {
                const WORDS s = row[r][ak];
                const VEC even = EVEN_HALF(s), odd = ODD_HALF(s);
                acc0[r] = __builtin_elementwise_fma(even, b0even, __builtin_elementwise_fma(odd, b0odd, acc0[r]));
                if (vectors > 1)
                    acc1[r] = __builtin_elementwise_fma(even, b1even, __builtin_elementwise_fma(odd, b1odd, acc1[r]));
            }
#endif
        }
    }
#if !NATIVE_BF16
    // The bias, ReLU and mask round as float32 does everywhere else: without the flush (they
    // read what the calls after the flush's end load, so they cannot move before it).
    NAME(flush_subnormals_end)(state);
#endif
    for (int r = 0; r < rows; r++) {
        NAME(store_tile_vector)(out, r, 0, &acc0[r]);
        if (vectors > 1) NAME(store_tile_vector)(out, r, 1, &acc1[r]);
    }
}

// The same with the row and vector counts constants in each copy, so that the rows unroll into
// registers.
#define PAIR_ONE_VECTOR(r) case r: NAME(pair_tile)(r, 1, STEP, taps, a, lda, b, pairs, ldb, out); break;
#define PAIR_TWO_VECTORS(r) case r: NAME(pair_tile)(r, 2, STEP, taps, a, lda, b, pairs, ldb, out); break;
#if PAIR_ROWS == 4
#define PAIR_ROW_CASES(CASE) CASE(1) CASE(2) CASE(3) CASE(4)
#elif PAIR_ROWS == 12
#define PAIR_ROW_CASES(CASE) CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) \
    CASE(11) CASE(12)
#elif PAIR_ROWS == 14
#define PAIR_ROW_CASES(CASE) CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) \
    CASE(11) CASE(12) CASE(13) CASE(14)
#else
#error "PAIR_ROWS must be 4, 12 or 14"
#endif

__attribute__((noinline)) static void NAME(pair_tile_fixed)(int rows, int vectors, int rowStep, int taps,
                                                            const uint32_t *a[][PAIR_ROWS], int lda,
                                                            const uint32_t *const *b, int pairs, int ldb,
                                                            const tile_output *out) {
    // The row steps of the model's layers (pair words of 64 and 32 channels, and of 2 x 32 and
    // 2 x 64: every other cell of the output gradient), 1 (adjacent words) and none.
#define PAIR_ROW_SWITCH                                                   \
    if (vectors == 2) {                                                   \
        switch (rows) { PAIR_ROW_CASES(PAIR_TWO_VECTORS) }                \
    } else {                                                              \
        switch (rows) { PAIR_ROW_CASES(PAIR_ONE_VECTOR) }                 \
    }
    switch (rowStep) {
#define STEP 1
    case STEP: PAIR_ROW_SWITCH break;
#undef STEP
#define STEP 32
    case STEP: PAIR_ROW_SWITCH break;
#undef STEP
#define STEP 64
    case STEP: PAIR_ROW_SWITCH break;
#undef STEP
#define STEP 0
    default: PAIR_ROW_SWITCH break;
#undef STEP
    }
#undef PAIR_ROW_SWITCH
}

// Whether pair_tile_fixed has a copy for rows `step` words apart.
INLINE bool NAME(pair_row_step_fixed)(int step) { return step == 1 || step == 32 || step == 64; }

// A tile of positions lies within one image row, its rows evenly spaced by `step` words, when
// pair_tile_fixed has a copy for that step and the row fits a tile; else tiles run across rows,
// as even as PAIR_ROWS allows, each row with its own pointer. 0: the latter.
INLINE int NAME(pair_position_step)(int width, int step) {
    return NAME(pair_row_step_fixed)(step) && width <= PAIR_ROWS ? step : 0;
}

INLINE int NAME(pair_block_columns)(int first, int count) { return min_int(PAIR_COLUMNS, count - first); }

// Packs each tap's `columnCount` x `depth` slice of a Keras kernel, element (c, d) at
// kernel[tap * panel + c * columnStride + d * depthStride], into blocks of PAIR_COLUMNS
// columns, each [depth / 2][its columns] pair words (pairs along d). `halves`: scratch of the
// whole kernel in bf16, converted in order first (in vectors) and gathered from.
INLINE void NAME(pack_pair_panels)(const float *kernel, size_t panel, int columnCount, int columnStride, int depth,
                                   int depthStride, uint32_t *halves, uint32_t *packed) {
    NAME(to_pairs)(kernel, 9 * panel / 2, halves);
    const uint16_t *converted = (const uint16_t *)halves;
    for (int tap = 0; tap < 9; tap++)
        for (int c0 = 0; c0 < columnCount; c0 += PAIR_COLUMNS) {
            const int columns = NAME(pair_block_columns)(c0, columnCount);
            uint32_t *block = packed + tap * panel / 2 + (size_t)c0 * (depth / 2);
            const uint16_t *source = converted + tap * panel + (size_t)c0 * columnStride;
            for (int k = 0; k < depth / 2; k++)
                for (int j = 0; j < columns; j++) {
                    const uint16_t *at = source + (size_t)j * columnStride + (size_t)(2 * k) * depthStride;
                    block[k * columns + j] = at[0] | (uint32_t)at[depthStride] << 16;
                }
        }
}

// The forward's kernel, [tap][output][input] -> [tap][output block][input pair][block's
// columns], at the start of `scratch`; the words after it hold the kernel in bf16 meanwhile.
static void NAME(deconv2x_pack_forward_bf16)(const float *kernel, int inputs, int outputs, float *scratch) {
    const size_t panel = (size_t)inputs * outputs;
    uint32_t *packed = (uint32_t *)scratch;
    NAME(pack_pair_panels)(kernel, panel, outputs, inputs, inputs, 1, packed + 9 * panel / 2, packed);
}

// `xWords`: room for one image's input grid in bf16, whose words are pairs of neighbouring channels.
static void NAME(deconv2x_forward_packed_bf16)(const float *x, int batch, int height, int width, int inputs,
                                               const float *scratch, const float *bias, int outputs, bool relu,
                                               uint32_t *xWords, float *y) {
    const size_t panel = (size_t)inputs * outputs;
    const int inRow = (width + 2) * inputs, outRow = (2 * width + 2) * outputs, pairs = inputs / 2;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const uint32_t *packed = (const uint32_t *)scratch;
    const int positions = height * width, rowStep = NAME(pair_position_step)(width, pairs);
    const int tileRows = rowStep ? width : even_tile_rows(positions, PAIR_ROWS);
    for (int n = 0; n < batch; n++) {
        NAME(to_pairs)(x + n * inGrid, inGrid / 2, xWords);
        float *yg = y + n * outGrid;
        for (int py = 0; py < 2; py++) {
            for (int px = 0; px < 2; px++) {
                const phase_taps taps = taps_of_phase(py, px);
                for (int p0 = 0; p0 < positions; p0 += tileRows) {
                    const int rows = min_int(tileRows, positions - p0);
                    const uint32_t *a[4][PAIR_ROWS];
                    float *c[PAIR_ROWS];
                    for (int r = 0; r < rows; r++) {
                        const size_t cell = interior_cell(p0 + r, width, inRow, inputs);
                        for (int t = 0; t < taps.count; t++)
                            a[t][r] = xWords + phase_tap_cell(&taps, t, cell, inRow, inputs) / 2;
                        c[r] = yg + upsampled_cell(p0 + r, width, py, px, outRow, outputs);
                    }
                    for (int o0 = 0; o0 < outputs; o0 += PAIR_COLUMNS) {
                        const int columns = NAME(pair_block_columns)(o0, outputs);
                        const uint32_t *b[4];
                        for (int t = 0; t < taps.count; t++) b[t] = packed + taps.index[t] * panel / 2 + (size_t)o0 * pairs;
                        float *columnsOut[PAIR_ROWS];
                        for (int r = 0; r < rows; r++) columnsOut[r] = c[r] + o0;
                        const tile_output out = {.c = columnsOut, .bias = bias + o0, .relu = relu};
                        NAME(pair_tile_fixed)(rows, columns / LANES, rowStep, taps.count, a, 1, b, pairs, columns, &out);
                    }
                }
            }
        }
    }
}

// The backward's scratch: the kernel gradient as [tap][input][output] (fp32, summed over the
// images, added in Keras's layout by vae_deconv2x_backward_finish), zeroed; then the kernel as
// [tap][input block][output pair][block's columns] (the words after it hold the kernel in bf16
// meanwhile).
static void NAME(deconv2x_pack_backward_bf16)(const float *kernel, int inputs, int outputs, float *scratch) {
    const size_t panel = (size_t)inputs * outputs;
    uint32_t *packed = (uint32_t *)(scratch + 9 * panel);
    memset(scratch, 0, sizeof(float) * 9 * panel);
    NAME(pack_pair_panels)(kernel, panel, inputs, 1, outputs, inputs, packed + 9 * panel / 2, packed);
}

// The weight gradient's input operand of `batch` images, pairs along positions (an odd count
// ends with zeros): each image's [position pair][input], one after another.
static void NAME(deconv2x_position_pairs_bf16)(const float *x, int batch, int height, int width, int inputs,
                                               uint32_t *xPairs) {
    const int inRow = (width + 2) * inputs, positions = height * width, positionPairs = (positions + 1) / 2;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    for (int n = 0; n < batch; n++, x += inGrid)
        for (int k = 0; k < positionPairs; k++) {
            const bool paired = 2 * k + 1 < positions;
            NAME(zip_pairs)(x + interior_cell(2 * k, width, inRow, inputs),
                            paired ? x + interior_cell(2 * k + 1, width, inRow, inputs) : NULL, inputs,
                            xPairs + ((size_t)n * positionPairs + k) * inputs);
        }
}

// As the float32 deconv2x_backward_images: `xPairs` holds the images' position pairs (read
// for taps only), `work` room for one image's tap operand or output gradient in bf16.
static void NAME(deconv2x_backward_images_bf16)(const float *dy, const float *x, int batch, int height, int width,
                                                int inputs, int outputs, float *scratch, int tapFirst, int tapEnd,
                                                float *biasGradient, float *dx, bool dxIsGrid,
                                                const uint32_t *xPairs, uint32_t *work) {
    const size_t panel = (size_t)inputs * outputs;
    const int inRow = (width + 2) * inputs, outRow = (2 * width + 2) * outputs;
    const size_t inGrid = (size_t)vae_grid_count(height, width, inputs);
    const size_t outGrid = (size_t)vae_grid_count(2 * height, 2 * width, outputs);
    const int positions = height * width, positionPairs = (positions + 1) / 2;
    const int rowStep = NAME(pair_position_step)(width, outputs);   // every other output cell
    const int tileRows = rowStep ? width : even_tile_rows(positions, PAIR_ROWS);
    const int gradientRows = even_tile_rows(inputs, PAIR_ROWS);
    float *packedGradient = scratch;
    const uint32_t *packed = (const uint32_t *)(scratch + 9 * panel);
    for (int n = 0; n < batch; n++) {
        const float *xg = x + n * inGrid, *dyg = dy + n * outGrid;
        const uint32_t *imagePairs = xPairs + (size_t)n * positionPairs * inputs;

        if (biasGradient) add_bias_gradient(dyg, 2 * height, 2 * width, outputs, biasGradient);

        // Kernel: x at (iy, ix) times dy at (2iy + ky, 2ix + kx); the tap's dy as
        // [position pair][output] in `work`.
        for (int tap = tapFirst; tap < tapEnd; tap++) {
            const int ky = tap / 3, kx = tap % 3;
            for (int k = 0; k < positionPairs; k++) {
                const bool paired = 2 * k + 1 < positions;
                NAME(zip_pairs)(dyg + upsampled_cell(2 * k, width, ky, kx, outRow, outputs),
                                paired ? dyg + upsampled_cell(2 * k + 1, width, ky, kx, outRow, outputs) : NULL,
                                outputs, work + (size_t)k * outputs);
            }
            float *g = packedGradient + tap * panel;
            for (int i0 = 0; i0 < inputs; i0 += gradientRows) {
                const int rows = min_int(gradientRows, inputs - i0);
                const uint32_t *a[1][PAIR_ROWS];
                a[0][0] = imagePairs + i0;
                for (int o0 = 0; o0 < outputs; o0 += PAIR_COLUMNS) {
                    const uint32_t *b[1] = {work + o0};
                    float *sums[PAIR_ROWS];
                    for (int r = 0; r < rows; r++) sums[r] = g + (size_t)(i0 + r) * outputs + o0;
                    const tile_output out = {.c = sums, .accumulate = true};
                    NAME(pair_tile_fixed)(rows, NAME(pair_block_columns)(o0, outputs) / LANES, 1, 1, a, inputs, b,
                                          positionPairs, outputs, &out);
                }
            }
        }

        // Input: dx(iy, ix) = sum over taps of dy(2iy + ky, 2ix + kx) . kernel[tap]; dy in bf16
        // in `work` (words: pairs of neighbouring channels).
        if (!dx) continue;
        uint32_t *dyWords = work;
        NAME(to_pairs)(dyg, outGrid / 2, dyWords);
        float *dxImage = dx + n * (dxIsGrid ? inGrid : (size_t)positions * inputs);
        const int dxRow = dxIsGrid ? inRow : width * inputs, dxFirst = dxIsGrid ? inRow + inputs : 0;
        for (int p0 = 0; p0 < positions; p0 += tileRows) {
            const int rows = min_int(tileRows, positions - p0);
            const uint32_t *a[9][PAIR_ROWS];
            const float *mask[PAIR_ROWS];
            float *c[PAIR_ROWS];
            for (int r = 0; r < rows; r++) {
                const int m = (p0 + r) / width, q = (p0 + r) % width;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        a[ky * 3 + kx][r] = dyWords + upsampled_cell(p0 + r, width, ky, kx, outRow, outputs) / 2;
                mask[r] = xg + interior_cell(p0 + r, width, inRow, inputs);
                c[r] = dxImage + dxFirst + m * dxRow + q * inputs;
            }
            for (int i0 = 0; i0 < inputs; i0 += PAIR_COLUMNS) {
                const int columns = NAME(pair_block_columns)(i0, inputs);
                const uint32_t *b[9];
                for (int tap = 0; tap < 9; tap++) b[tap] = packed + tap * panel / 2 + (size_t)i0 * (outputs / 2);
                float *columnsOut[PAIR_ROWS];
                const float *columnsMask[PAIR_ROWS];
                for (int r = 0; r < rows; r++) { columnsOut[r] = c[r] + i0; columnsMask[r] = mask[r] + i0; }
                const tile_output out = {.c = columnsOut, .mask = columnsMask};
                NAME(pair_tile_fixed)(rows, columns / LANES, rowStep, 9, a, 1, b, outputs / 2, columns, &out);
            }
        }
    }
}

#undef VEC
#undef WORDS
#undef WORDSU
#undef LOAD_WORDS
#undef LOADV
#undef STOREV
#undef VECU
#undef PAIR_COLUMNS
#undef EVEN_HALF
#undef ODD_HALF
#undef PAIR_ONE_VECTOR
#undef PAIR_TWO_VECTORS
#undef PAIR_ROW_CASES

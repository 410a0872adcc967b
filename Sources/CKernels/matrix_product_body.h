// The matrix product, written once for a vector width and included by matrix_product.c once per
// build. Before including, define:
//   BUILD     the build's name, appended to the function's name (baseline, avx2, avx512)
//   LANES     floats in one vector register: 8 (two SSE registers, or one AVX register) or 16
//   MAX_ROWS  rows of a register tile: MAX_ROWS x 2 vectors of accumulators (6 or 14)
// Tiles are vectors across C's columns and registers across its rows; the reduction dimension is
// never split: every element of C is one chain over p = 0, 1, ..., k - 1, whatever the tile,
// so builds with FMA give the same bits.

#define PRODUCT_JOIN(name, build) name##_##build
#define PRODUCT_EXPAND(name, build) PRODUCT_JOIN(name, build)
#define PRODUCT_NAME(name) PRODUCT_EXPAND(name, BUILD)

#if LANES == 8
#define PRODUCT_VEC v8
#define PRODUCT_VECU v8u
#else
#define PRODUCT_VEC v16
#define PRODUCT_VECU v16u
#endif
#define PRODUCT_LOAD(p) (*(const PRODUCT_VECU *)(p))
#define PRODUCT_STORE(p, v) (*(PRODUCT_VECU *)(p) = (v))
#define PRODUCT_COLUMNS (2 * LANES)

// c[r][0..vectors * LANES) = (start ? c[r] : 0) + sum over p < depth of a[r * rowStep + p *
// depthStep] * panel[p * ldp + ..], one fused multiply-add a term, in order of p.
INLINE void PRODUCT_NAME(product_tile)(int rows, int vectors, const float *a, int rowStep, int depthStep,
                                       const float *panel, int ldp, int depth, bool start, float *c, int ldc) {
    PRODUCT_VEC acc0[MAX_ROWS], acc1[MAX_ROWS];
    for (int r = 0; r < rows; r++) {
        acc0[r] = start ? PRODUCT_LOAD(c + r * ldc) : 0;
        acc1[r] = start && vectors > 1 ? PRODUCT_LOAD(c + r * ldc + LANES) : 0;
    }
    for (int p = 0; p < depth; p++, panel += ldp, a += depthStep) {
        const PRODUCT_VEC b0 = PRODUCT_LOAD(panel), b1 = vectors > 1 ? PRODUCT_LOAD(panel + LANES) : 0;
#pragma unroll
        for (int r = 0; r < rows; r++) {
            const PRODUCT_VEC scalar = a[r * rowStep];
            acc0[r] = scalar * b0 + acc0[r];
            if (vectors > 1) acc1[r] = scalar * b1 + acc1[r];
        }
    }
    for (int r = 0; r < rows; r++) {
        PRODUCT_STORE(c + r * ldc, acc0[r]);
        if (vectors > 1) PRODUCT_STORE(c + r * ldc + LANES, acc1[r]);
    }
}

// The same with the row and vector counts constants in each copy, so that the rows unroll into
// registers.
#define PRODUCT_CASE(r, v) case r: PRODUCT_NAME(product_tile)(r, v, a, rowStep, depthStep, panel, ldp, depth, start, c, ldc); break;
#define PRODUCT_ROW_CASES(v) PRODUCT_CASE(1, v) PRODUCT_CASE(2, v) PRODUCT_CASE(3, v) PRODUCT_CASE(4, v) \
    PRODUCT_CASE(5, v) PRODUCT_CASE(6, v) PRODUCT_EXTRA_ROW_CASES(v)
#if MAX_ROWS == 6
#define PRODUCT_EXTRA_ROW_CASES(v)
#elif MAX_ROWS == 14
#define PRODUCT_EXTRA_ROW_CASES(v) PRODUCT_CASE(7, v) PRODUCT_CASE(8, v) PRODUCT_CASE(9, v) PRODUCT_CASE(10, v) \
    PRODUCT_CASE(11, v) PRODUCT_CASE(12, v) PRODUCT_CASE(13, v) PRODUCT_CASE(14, v)
#else
#error "MAX_ROWS must be 6 or 14"
#endif

INLINE void PRODUCT_NAME(product_tile_fixed)(int rows, int vectors, const float *a, int rowStep, int depthStep,
                                             const float *panel, int ldp, int depth, bool start, float *c, int ldc) {
    if (vectors == 2) {
        switch (rows) { PRODUCT_ROW_CASES(2) }
    } else {
        switch (rows) { PRODUCT_ROW_CASES(1) }
    }
}

// C's columns in blocks of PRODUCT_COLUMNS; op(B) in panels of PRODUCT_DEPTH rows of a block,
// read in place where its rows are whole vectors of B as stored, else packed (scaled by alpha,
// zero-padded to whole vectors). A block's partial sums wait in C between panels: a chain goes
// on where it stopped.
static void PRODUCT_NAME(matrix_product)(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
                                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                                         int ldc) {
    if (beta != 0 && beta != 1)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] *= beta;
    if (k == 0 && beta == 0)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = 0;
    const int rowStep = transposeA ? 1 : lda, depthStep = transposeA ? lda : 1;
    const int tiles = (m + MAX_ROWS - 1) / MAX_ROWS, tileRows = m > 0 ? (m + tiles - 1) / tiles : 0;
    float panel[PRODUCT_DEPTH * PRODUCT_COLUMNS] __attribute__((aligned(64)));
    for (int j0 = 0; j0 < n; j0 += PRODUCT_COLUMNS) {
        const int columns = min_int(PRODUCT_COLUMNS, n - j0), vectors = (columns + LANES - 1) / LANES;
        const int width = vectors * LANES;
        const bool inPlace = !transposeB && alpha == 1 && columns == width;
        for (int p0 = 0; p0 < k; p0 += PRODUCT_DEPTH) {
            const int depth = min_int(PRODUCT_DEPTH, k - p0);
            const float *rows0 = inPlace ? b + (size_t)p0 * ldb + j0 : panel;
            const int ldp = inPlace ? ldb : width;
            for (int p = 0; p < depth && !inPlace; p++) {
                float *row = panel + p * width;
                for (int j = 0; j < columns; j++)
                    row[j] = alpha * (transposeB ? b[(size_t)(j0 + j) * ldb + p0 + p] : b[(size_t)(p0 + p) * ldb + j0 + j]);
                for (int j = columns; j < width; j++) row[j] = 0;
            }
            const bool start = p0 > 0 || beta != 0;
            for (int i0 = 0; i0 < m; i0 += tileRows) {
                const int rows = min_int(tileRows, m - i0);
                const float *aTile = a + (size_t)i0 * rowStep + (size_t)p0 * depthStep;
                float *cTile = c + (size_t)i0 * ldc + j0;
                if (columns == width) {
                    PRODUCT_NAME(product_tile_fixed)(rows, vectors, aTile, rowStep, depthStep, rows0, ldp, depth,
                                                     start, cTile, ldc);
                    continue;
                }
                // A last block narrower than its vectors goes through a copy of its part of C.
                float part[MAX_ROWS * PRODUCT_COLUMNS];
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < width; j++) part[r * width + j] = start && j < columns ? cTile[(size_t)r * ldc + j] : 0;
                PRODUCT_NAME(product_tile_fixed)(rows, vectors, aTile, rowStep, depthStep, rows0, ldp, depth, start,
                                                 part, width);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < columns; j++) cTile[(size_t)r * ldc + j] = part[r * width + j];
            }
        }
    }
}

#undef PRODUCT_JOIN
#undef PRODUCT_EXPAND
#undef PRODUCT_NAME
#undef PRODUCT_VEC
#undef PRODUCT_VECU
#undef PRODUCT_LOAD
#undef PRODUCT_STORE
#undef PRODUCT_COLUMNS
#undef PRODUCT_CASE
#undef PRODUCT_ROW_CASES
#undef PRODUCT_EXTRA_ROW_CASES

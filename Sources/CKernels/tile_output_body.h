// Where a register tile's sums go, written once for a vector width and included by
// transposed_convolution.c once per build, before the kernel bodies (define BUILD and LANES).
// The float32 and bf16 tiles both end here, so that their bias, ReLU and mask are one code.

#if LANES == 8
#define OUTPUT_VEC v8
#define OUTPUT_VECU v8u
#define OUTPUT_WORDS w8
#else
#define OUTPUT_VEC v16
#define OUTPUT_VECU v16u
#define OUTPUT_WORDS w16
#endif

// Stores one vector of row r's sums at vector v of out->c[r]: plus the bias (then ReLU) or
// zeroed where the mask is not positive, as asked; as is when the tile accumulates. (The sums
// come by address: a vector argument of the baseline build's would change the ABI.)
INLINE void NAME(store_tile_vector)(const tile_output *out, int r, int v, const OUTPUT_VEC *sums) {
    OUTPUT_VEC value = *sums;
    if (out->bias) {
        value += *(const OUTPUT_VECU *)(out->bias + v * LANES);
        if (out->relu) value = (OUTPUT_VEC)((OUTPUT_WORDS)value & ~(OUTPUT_WORDS)(value < 0));
    }
    if (out->mask) value = (OUTPUT_VEC)((OUTPUT_WORDS)value & (OUTPUT_WORDS)(*(const OUTPUT_VECU *)(out->mask[r] + v * LANES) > 0));
    *(OUTPUT_VECU *)(out->c[r] + v * LANES) = value;
}

#undef OUTPUT_VEC
#undef OUTPUT_VECU
#undef OUTPUT_WORDS

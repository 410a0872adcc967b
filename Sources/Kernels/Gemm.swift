import CKernels

/// Row-major single-precision matrix product: `C = alpha * op(A) * op(B) + beta * C`, with
/// `op(A)` of shape m x k and `op(B)` k x n. Leading dimensions are the row strides of the
/// matrices as stored. Every element is one chain of multiply-adds over k in a fixed order
/// (`vae_matrix_product` in `ckernels.h`), in the kernel build in use: the AVX2 and AVX-512
/// builds give the same bits, on any CPU.
@inline(__always)
public func gemm(
    transposeA: Bool = false, transposeB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    _ c: UnsafeMutablePointer<Float>, ldc: Int
) {
    vae_matrix_product(transposeA, transposeB, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                       beta, c, Int32(ldc))
}

import CBLAS

/// Row-major single-precision matrix product through CBLAS:
/// `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of shape m x k and `op(B)` k x n.
/// Leading dimensions are the row strides of the matrices as stored.
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
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb),
                beta, c, Int32(ldc))
}

/// What the BLAS library is and how it runs.
public enum BLAS {
    /// One thread per process: the trainer parallelises across ranks, and a
    /// single-threaded product sums in one fixed order, which keeps results reproducible.
    public static func useSingleThread() { openblas_set_num_threads(1) }

    /// The kernel family OpenBLAS picked for this CPU (e.g. "Haswell", "SkylakeX", "Zen").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}

import CKernels

/// Fused loops that follow a matrix product, so that each activation is touched once; in C
/// (`elementwise.c`, `logistic.c`), for the CPU's widest vectors.
public enum Elementwise {
    /// `rows x columns` matrix: adds `bias` to every row, then applies relu if asked.
    public static func addBias(_ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                               bias: UnsafePointer<Float>, relu: Bool) {
        vae_add_bias(values, rows, columns, bias, relu)
    }

    /// Backward of relu, given its output: zeroes the gradient where the unit was off.
    public static func reluBackward(_ gradient: UnsafeMutablePointer<Float>, output: UnsafePointer<Float>, count: Int) {
        vae_relu_backward(gradient, output, count)
    }

    /// Bias gradient: column sums of a `rows x columns` matrix, added into `biasGradient`.
    public static func addColumnSums(_ values: UnsafePointer<Float>, rows: Int, columns: Int,
                                     into biasGradient: UnsafeMutablePointer<Float>) {
        vae_add_column_sums(values, rows, columns, biasGradient)
    }

    /// Binary cross-entropy of `sigmoid(logit)` against `target`, from the logit so that it
    /// never overflows, fused with its gradient: writes `(sigmoid(l) - y) * gradientScale`
    /// into `logitGradient` and returns the summed loss (accumulated in double precision:
    /// a batch holds ~10^5 terms). Vectorised in C with exp and log1p of glibc's bits
    /// (`logistic.c`).
    public static func sigmoidCrossEntropy(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, count: Int,
                                           gradientScale: Float, logitGradient: UnsafeMutablePointer<Float>) -> Double {
        vae_sigmoid_cross_entropy(logits, targets, count, gradientScale, logitGradient)
    }

    /// Logistic function, finite for any input.
    public static func sigmoid(_ values: UnsafeMutablePointer<Float>, count: Int) {
        vae_sigmoid(values, count)
    }

    /// e^x, with the bits of the loss's exp.
    public static func exp(_ x: Float) -> Float {
        var x = x, y: Float = 0
        vae_exp(&x, &y, 1)
        return y
    }
}

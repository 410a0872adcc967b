import CKernels

/// Fused loops that follow a matrix product, so that each activation is touched once.
public enum Elementwise {
    /// `rows x columns` matrix: adds `bias` to every row, then applies relu if asked.
    public static func addBias(_ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                               bias: UnsafePointer<Float>, relu: Bool) {
        var row = values
        for _ in 0..<rows {
            if relu {
                for c in 0..<columns { row[c] = max(row[c] + bias[c], 0) }
            } else {
                for c in 0..<columns { row[c] += bias[c] }
            }
            row += columns
        }
    }

    /// Backward of relu, given its output: zeroes the gradient where the unit was off.
    public static func reluBackward(_ gradient: UnsafeMutablePointer<Float>, output: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gradient[i] = output[i] > 0 ? gradient[i] : 0 }   // branch-free: vectorises
    }

    /// Bias gradient: column sums of a `rows x columns` matrix, added into `biasGradient`.
    public static func addColumnSums(_ values: UnsafePointer<Float>, rows: Int, columns: Int,
                                     into biasGradient: UnsafeMutablePointer<Float>) {
        var row = values
        for _ in 0..<rows {
            for c in 0..<columns { biasGradient[c] += row[c] }
            row += columns
        }
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

import Foundation
import Kernels

// Each layer's forward and backward side by side. Activations are NHWC, one image after
// another; a "batch" here is the micro-batch one call works on. Backward functions *add*
// into parameter gradients (the caller zeroes them) and *overwrite* input gradients.

/// Dense: `y[n, out] = x[n, in] · W[in, out] + b`.
public enum Dense {
    public static func forward(_ x: UnsafePointer<Float>, batch: Int, inputs: Int, outputs: Int,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool,
                        into y: UnsafeMutablePointer<Float>) {
        gemm(m: batch, n: outputs, k: inputs, x, lda: inputs, weight, ldb: outputs, beta: 0, y, ldc: outputs)
        Elementwise.addBias(y, rows: batch, columns: outputs, bias: bias, relu: relu)
    }

    /// `dy` is the gradient after any relu mask has been applied.
    public static func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, inputs: Int, outputs: Int,
                         weight: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
                         biasGradient: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
                         accumulateInputGradient: Bool = false) {
        gemm(transposeA: true, m: inputs, n: outputs, k: batch, x, lda: inputs, dy, ldb: outputs,
             beta: 1, weightGradient, ldc: outputs)
        Elementwise.addColumnSums(dy, rows: batch, columns: outputs, into: biasGradient)
        if let dx = inputGradient {
            gemm(transposeB: true, m: batch, n: inputs, k: outputs, dy, lda: outputs, weight, ldb: outputs,
                 beta: accumulateInputGradient ? 1 : 0, dx, ldc: inputs)
        }
    }
}

/// Conv2D, 3x3, "same", relu. Kernel [3, 3, in, out] is a `9*in x out` matrix.
/// Forward: patches of the input (the large grid) times the kernel.
public enum Conv2D {
    public static func forward(_ x: UnsafePointer<Float>, batch: Int, geometry g: PatchGeometry, outputs: Int,
                        kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        patches: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        for i in 0..<batch {
            g.gather(x + i * g.largeCount, into: patches + i * g.smallPositions * g.patchWidth)
        }
        let rows = batch * g.smallPositions
        gemm(m: rows, n: outputs, k: g.patchWidth, patches, lda: g.patchWidth, kernel, ldb: outputs, beta: 0, y, ldc: outputs)
        Elementwise.addBias(y, rows: rows, columns: outputs, bias: bias, relu: true)
    }

    /// `dy` is masked by relu here, in place. `patches` must still hold the forward patches;
    /// it is overwritten with the patch gradients when the input gradient is asked for.
    public static func backward(_ dy: UnsafeMutablePointer<Float>, y: UnsafePointer<Float>, batch: Int, geometry g: PatchGeometry,
                         outputs: Int, kernel: UnsafePointer<Float>, patches: UnsafeMutablePointer<Float>,
                         kernelGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
                         inputGradient: UnsafeMutablePointer<Float>?) {
        let rows = batch * g.smallPositions
        Elementwise.reluBackward(dy, output: y, count: rows * outputs)
        gemm(transposeA: true, m: g.patchWidth, n: outputs, k: rows, patches, lda: g.patchWidth, dy, ldb: outputs,
             beta: 1, kernelGradient, ldc: outputs)
        Elementwise.addColumnSums(dy, rows: rows, columns: outputs, into: biasGradient)
        guard let dx = inputGradient else { return }
        gemm(transposeB: true, m: rows, n: g.patchWidth, k: outputs, dy, lda: outputs, kernel, ldb: outputs,
             beta: 0, patches, ldc: g.patchWidth)
        dx.update(repeating: 0, count: batch * g.largeCount)
        for i in 0..<batch {
            g.scatterAdd(patches + i * g.smallPositions * g.patchWidth, into: dx + i * g.largeCount)
        }
    }
}

/// The reparameterisation `z = mean + exp(logVar / 2) * eps` and the KL term
/// `sum_j -0.5 * (1 + logVar - mean^2 - exp(logVar))`, whose gradients meet at mean and logVar.
public enum Sampling {
    public static func forward(mean: UnsafePointer<Float>, logVar: UnsafePointer<Float>, eps: UnsafePointer<Float>,
                        count: Int, into z: UnsafeMutablePointer<Float>) {
        for i in 0..<count { z[i] = mean[i] + Elementwise.exp(0.5 * logVar[i]) * eps[i] }
    }

    /// Returns the summed KL; writes the gradients of `dz` (through z) plus `klScale * KL`.
    public static func backward(dz: UnsafePointer<Float>, mean: UnsafePointer<Float>, logVar: UnsafePointer<Float>,
                         eps: UnsafePointer<Float>, count: Int, klScale: Float,
                         meanGradient: UnsafeMutablePointer<Float>, logVarGradient: UnsafeMutablePointer<Float>) -> Double {
        var kl: Double = 0
        for i in 0..<count {
            let m = mean[i], lv = logVar[i]
            let variance = Elementwise.exp(lv)
            kl += Double(-0.5 * (1 + lv - m * m - variance))
            meanGradient[i] = dz[i] + klScale * m
            logVarGradient[i] = dz[i] * eps[i] * 0.5 * Elementwise.exp(0.5 * lv) + klScale * 0.5 * (variance - 1)
        }
        return kl
    }

    /// The KL term alone, for evaluation.
    public static func divergence(mean: UnsafePointer<Float>, logVar: UnsafePointer<Float>, count: Int) -> Double {
        var kl: Double = 0
        for i in 0..<count {
            kl += Double(-0.5 * (1 + logVar[i] - mean[i] * mean[i] - Elementwise.exp(logVar[i])))
        }
        return kl
    }
}

import CKernels
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

/// One image's activation inside a border of one zero cell, `(height + 2) x (width + 2) x
/// channels` floats: the decoder's transposed convolutions read and write these, so that every
/// window is in bounds (see `ckernels.h`).
public struct GridShape: Sendable, Equatable {
    public let height: Int, width: Int, channels: Int
    public init(height: Int, width: Int, channels: Int) {
        precondition(height > 0 && width > 0 && channels > 0)
        self.height = height; self.width = width; self.channels = channels
    }
    /// Floats of one image's grid.
    public var count: Int { (height + 2) * (width + 2) * channels }
    /// Floats of one image's interior, as a plain HWC image.
    public var imageCount: Int { height * width * channels }

    /// Copies `batch` plain HWC images into the interiors of their grids.
    public func copy(images: UnsafePointer<Float>, batch: Int, into grids: UnsafeMutablePointer<Float>) {
        vae_grids_from_images(images, Int32(batch), Int32(height), Int32(width), Int32(channels), grids)
    }
}

/// Conv2DTranspose, 3x3, stride 2, "same": `input` grids -> grids of twice the height and
/// width with `outputs` channels. Kernel [3, 3, out, in] (Keras). Direct kernels: bias and
/// relu fused, no patch matrix.
public enum UpsamplingConvTranspose2D {
    /// Floats of the scratch that `forward` and `backward` need.
    public static func scratchCount(inputs: Int, outputs: Int) -> Int { 18 * inputs * outputs }

    public static func outputShape(_ input: GridShape, outputs: Int) -> GridShape {
        GridShape(height: 2 * input.height, width: 2 * input.width, channels: outputs)
    }

    public static func forward(_ x: UnsafePointer<Float>, batch: Int, input: GridShape, outputs: Int,
                               kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool,
                               scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        precondition(outputs % 16 == 0, "the kernel's tiles are 16 outputs wide")
        vae_deconv2x_forward(x, Int32(batch), Int32(input.height), Int32(input.width), Int32(input.channels),
                             kernel, bias, Int32(outputs), relu, scratch, y)
    }

    /// `dy`: grids of the output gradient, masked by the layer's activation. The input is a
    /// ReLU output, so its gradient comes out masked too, as grids or, if `inputGradientIsGrid`
    /// is false, as plain images.
    public static func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, input: GridShape,
                                outputs: Int, kernel: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                kernelGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
                                inputGradient: UnsafeMutablePointer<Float>?, inputGradientIsGrid: Bool) {
        precondition(input.channels % 16 == 0, "the kernel's tiles are 16 inputs wide")
        vae_deconv2x_backward(dy, x, Int32(batch), Int32(input.height), Int32(input.width), Int32(input.channels),
                              Int32(outputs), kernel, scratch, kernelGradient, biasGradient, inputGradient,
                              inputGradientIsGrid)
    }
}

/// Conv2DTranspose, 3x3, stride 1, "same", one output channel, no activation: the decoder's
/// last layer. `input` grids -> plain `height x width` logit images. Kernel [3, 3, 1, in].
public enum OutputConvTranspose2D {
    public static func forward(_ x: UnsafePointer<Float>, batch: Int, input: GridShape,
                               kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               into y: UnsafeMutablePointer<Float>) {
        precondition(input.channels % 32 == 0, "the kernel runs 32 inputs at a time")
        vae_deconv1x_single_forward(x, Int32(batch), Int32(input.height), Int32(input.width), Int32(input.channels),
                                    kernel, bias, y)
    }

    /// `dy`: plain output gradients. The input is a ReLU output, so its gradient (grids) comes
    /// out masked. `scratch`: one image's one-channel grid.
    public static func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, input: GridShape,
                                kernel: UnsafePointer<Float>, kernelGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                inputGradient: UnsafeMutablePointer<Float>) {
        precondition(input.channels % 32 == 0, "the kernel runs 32 inputs at a time")
        vae_deconv1x_single_backward(dy, x, Int32(batch), Int32(input.height), Int32(input.width), Int32(input.channels),
                                     kernel, kernelGradient, biasGradient, scratch, inputGradient)
    }
}

/// The reparameterisation `z = mean + exp(logVar / 2) * eps` and the KL term
/// `sum_j -0.5 * (1 + logVar - mean^2 - exp(logVar))`, whose gradients meet at mean and logVar.
public enum Sampling {
    public static func forward(mean: UnsafePointer<Float>, logVar: UnsafePointer<Float>, eps: UnsafePointer<Float>,
                        count: Int, into z: UnsafeMutablePointer<Float>) {
        for i in 0..<count { z[i] = mean[i] + expf(0.5 * logVar[i]) * eps[i] }
    }

    /// Returns the summed KL; writes the gradients of `dz` (through z) plus `klScale * KL`.
    public static func backward(dz: UnsafePointer<Float>, mean: UnsafePointer<Float>, logVar: UnsafePointer<Float>,
                         eps: UnsafePointer<Float>, count: Int, klScale: Float,
                         meanGradient: UnsafeMutablePointer<Float>, logVarGradient: UnsafeMutablePointer<Float>) -> Double {
        var kl: Double = 0
        for i in 0..<count {
            let m = mean[i], lv = logVar[i]
            let variance = expf(lv)
            kl += Double(-0.5 * (1 + lv - m * m - variance))
            meanGradient[i] = dz[i] + klScale * m
            logVarGradient[i] = dz[i] * eps[i] * 0.5 * expf(0.5 * lv) + klScale * 0.5 * (variance - 1)
        }
        return kl
    }

    /// The KL term alone, for evaluation.
    public static func divergence(mean: UnsafePointer<Float>, logVar: UnsafePointer<Float>, count: Int) -> Double {
        var kl: Double = 0
        for i in 0..<count {
            kl += Double(-0.5 * (1 + logVar[i] - mean[i] * mean[i] - expf(logVar[i])))
        }
        return kl
    }
}

import Kernels

/// The seed's variational autoencoder (the Keras example's layers): 8x8 input, a latent and an
/// encoder width of its `shape`, 28x28 output. It holds no parameters: they come in as one flat buffer laid out by
/// `ParameterLayout`, so that training, checkpoints and collectives all see one buffer.
public struct VAE: Sendable {
    // The architecture, described here once: the parameter layout, the workspace, the checks
    // on weights from files and `vae inspect --json` (which the benchmark's peers read) derive
    // from it. Grey images: one channel in and out.
    public static let inputSide = 8
    public static let outputSide = 28
    public static let inputPixels = inputSide * inputSide
    public static let outputPixels = outputSide * outputSide

    public let layout: ParameterLayout
    public var shape: ModelShape { layout.shape }
    public var latentDimension: Int { layout.latentDimension }
    public var encoderWidth: Int { layout.shape.encoderWidth }

    // Widths of the layers, as the Keras example has them (the encoder's dense width is the
    // shape's). Every convolution is 3x3 (the kernels are written for that size); the encoder's
    // two halve the side, the decoder's first two double it.
    public static let kernelSide = 3
    public static let conv1Channels = 32, conv2Channels = 64
    public static let decoderChannels = 64, deconv2Channels = 32
    static let encodedSide = inputSide / 4, decoderSide = outputSide / 4
    public static var flatWidth: Int { encodedSide * encodedSide * conv2Channels }
    public static var decoderWidth: Int { decoderSide * decoderSide * decoderChannels }

    // Stride-2 "same" convolutions pad 0 before (TensorFlow puts the odd padding after).
    static let conv1 = PatchGeometry(small: (inputSide / 2, inputSide / 2), large: (inputSide, inputSide),
                                     channels: 1, stride: 2, pad: 0)
    static let conv2 = PatchGeometry(small: (encodedSide, encodedSide), large: (inputSide / 2, inputSide / 2),
                                     channels: conv1Channels, stride: 2, pad: 0)
    // The decoder's activations, as grids: 7x7x64 -> 14x14x64 -> 28x28x32 -> 28x28 logits.
    static let decoderGrid = GridShape(height: decoderSide, width: decoderSide, channels: decoderChannels)
    static let deconv1Grid = UpsamplingConvTranspose2D.outputShape(decoderGrid, outputs: decoderChannels)
    static let deconv2Grid = UpsamplingConvTranspose2D.outputShape(deconv1Grid, outputs: deconv2Channels)

    public init(shape: ModelShape) {
        layout = ParameterLayout(shape: shape)
    }

    /// Where `trainingStep` reports gradients final, in the order it does: after the decoder's
    /// second and first transposed convolutions, which hold 63% of the parameters and leave
    /// about a third of the backward pass to run (deconv1's) after the first.
    public var gradientsFinalOffsets: [Int] { [layout.offsets.deconv2W, layout.offsets.deconv1W] }

    /// Losses of one batch, summed over its images (not yet divided by any batch size).
    public struct LossSums: Sendable, Equatable {
        public var reconstruction: Double
        public var kl: Double
        public init(reconstruction: Double = 0, kl: Double = 0) {
            self.reconstruction = reconstruction; self.kl = kl
        }
    }

    /// Forward and backward of one micro-batch of `batch` images (at most the workspace's
    /// capacity). `inputs` [batch, 64], `targets` [batch, 784], `eps` [batch, latent].
    /// Overwrites `gradients` (the layout's size) with the gradient of
    /// `lossScale * (summed reconstruction + klWeight * summed KL)`; with `lossScale = 1 /
    /// globalBatch` that is this micro-batch's share of the global batch's mean loss. The seed's
    /// loss has `klWeight` 1; a smaller one lets more of each image through the latent. The
    /// decoder's two upsampling convolutions, forward and backward, multiply in `precision`;
    /// in float32, `helpers` may compute pieces of them.
    ///
    /// The backward pass goes through the layout from its end: `gradientsFinal(offset)` is
    /// called at each of `gradientsFinalOffsets` once every gradient from there to the end has
    /// its final value, so that a caller can start summing them while the rest is computed.
    public func trainingStep(parameters p: UnsafePointer<Float>, gradients d: UnsafeMutablePointer<Float>,
                             inputs: UnsafePointer<Float>, targets: UnsafePointer<Float>, eps: UnsafePointer<Float>,
                             batch n: Int, lossScale: Float, klWeight: Float, precision: Precision, workspace w: Workspace,
                             helpers: Helpers? = nil, gradientsFinal: (_ offset: Int) -> Void = { _ in }) -> LossSums {
        precondition(n > 0 && n <= w.capacity && w.shape == shape)
        let o = layout.offsets
        let l = latentDimension
        encode(parameters: p, inputs: inputs, batch: n, workspace: w)
        Sampling.forward(mean: w.mean, logVar: w.logVar, eps: eps, count: n * l, into: w.z)
        decodeLogits(parameters: p, z: w.z, batch: n, precision: precision, workspace: w, helpers: helpers)

        d.update(repeating: 0, count: layout.count)
        let reconstruction = Elementwise.sigmoidCrossEntropy(
            logits: w.logits, targets: targets, count: n * VAE.outputPixels,
            gradientScale: lossScale, logitGradient: w.dLogits)

        // Decoder, output to input. Each transposed convolution's input is a ReLU output, and
        // its backward masks the input gradient with it.
        OutputConvTranspose2D.backward(w.dLogits, x: w.deconv2Grid, batch: n, input: VAE.deconv2Grid,
                                       kernel: p + o.deconv3W, kernelGradient: d + o.deconv3W, biasGradient: d + o.deconv3B,
                                       scratch: w.dLogitsGrid, inputGradient: w.dDeconv2Grid)
        UpsamplingConvTranspose2D.backward(w.dDeconv2Grid, x: w.deconv1Grid, batch: n, input: VAE.deconv1Grid,
                                           outputs: VAE.deconv2Channels, kernel: p + o.deconv2W, precision: precision,
                                           scratch: w.convolutionScratch, helpers: helpers,
                                           kernelGradient: d + o.deconv2W, biasGradient: d + o.deconv2B,
                                           inputGradient: w.dDeconv1Grid, inputGradientIsGrid: true)
        gradientsFinal(o.deconv2W)
        UpsamplingConvTranspose2D.backward(w.dDeconv1Grid, x: w.decoderGrid, batch: n, input: VAE.decoderGrid,
                                           outputs: VAE.decoderChannels, kernel: p + o.deconv1W, precision: precision,
                                           scratch: w.convolutionScratch, helpers: helpers,
                                           kernelGradient: d + o.deconv1W, biasGradient: d + o.deconv1B,
                                           inputGradient: w.dDecoderDense, inputGradientIsGrid: false)
        gradientsFinal(o.deconv1W)
        Dense.backward(w.dDecoderDense, x: w.z, batch: n, inputs: l, outputs: VAE.decoderWidth,
                       weight: p + o.decDenseW, weightGradient: d + o.decDenseW, biasGradient: d + o.decDenseB,
                       inputGradient: w.dZ)

        // Latent: reparameterisation and KL.
        let kl = Sampling.backward(dz: w.dZ, mean: w.mean, logVar: w.logVar, eps: eps, count: n * l, klScale: lossScale * klWeight,
                                   meanGradient: w.dMean, logVarGradient: w.dLogVar)

        // Encoder, output to input; the two heads' input gradients add up at the hidden layer.
        Dense.backward(w.dMean, x: w.hidden, batch: n, inputs: encoderWidth, outputs: l,
                       weight: p + o.meanW, weightGradient: d + o.meanW, biasGradient: d + o.meanB,
                       inputGradient: w.dHidden)
        Dense.backward(w.dLogVar, x: w.hidden, batch: n, inputs: encoderWidth, outputs: l,
                       weight: p + o.logVarW, weightGradient: d + o.logVarW, biasGradient: d + o.logVarB,
                       inputGradient: w.dHidden, accumulateInputGradient: true)
        Elementwise.reluBackward(w.dHidden, output: w.hidden, count: n * encoderWidth)
        Dense.backward(w.dHidden, x: w.conv2Out, batch: n, inputs: VAE.flatWidth, outputs: encoderWidth,
                       weight: p + o.denseW, weightGradient: d + o.denseW, biasGradient: d + o.denseB,
                       inputGradient: w.dConv2)
        Conv2D.backward(w.dConv2, y: w.conv2Out, batch: n, geometry: VAE.conv2, outputs: VAE.conv2Channels,
                        kernel: p + o.conv2W, patches: w.conv2Patches,
                        kernelGradient: d + o.conv2W, biasGradient: d + o.conv2B, inputGradient: w.dConv1)
        Conv2D.backward(w.dConv1, y: w.conv1Out, batch: n, geometry: VAE.conv1, outputs: VAE.conv1Channels,
                        kernel: p + o.conv1W, patches: w.conv1Patches,
                        kernelGradient: d + o.conv1W, biasGradient: d + o.conv1B, inputGradient: nil)
        return LossSums(reconstruction: reconstruction, kl: kl)
    }

    /// Encoder forward: leaves `mean` and `logVar` [batch, latent] in the workspace.
    public func encode(parameters p: UnsafePointer<Float>, inputs: UnsafePointer<Float>, batch n: Int, workspace w: Workspace) {
        let o = layout.offsets
        Conv2D.forward(inputs, batch: n, geometry: VAE.conv1, outputs: VAE.conv1Channels,
                       kernel: p + o.conv1W, bias: p + o.conv1B, patches: w.conv1Patches, into: w.conv1Out)
        Conv2D.forward(w.conv1Out, batch: n, geometry: VAE.conv2, outputs: VAE.conv2Channels,
                       kernel: p + o.conv2W, bias: p + o.conv2B, patches: w.conv2Patches, into: w.conv2Out)
        Dense.forward(w.conv2Out, batch: n, inputs: VAE.flatWidth, outputs: encoderWidth,
                      weight: p + o.denseW, bias: p + o.denseB, relu: true, into: w.hidden)
        Dense.forward(w.hidden, batch: n, inputs: encoderWidth, outputs: latentDimension,
                      weight: p + o.meanW, bias: p + o.meanB, relu: false, into: w.mean)
        Dense.forward(w.hidden, batch: n, inputs: encoderWidth, outputs: latentDimension,
                      weight: p + o.logVarW, bias: p + o.logVarB, relu: false, into: w.logVar)
    }

    /// Decoder forward up to the output logits (before the sigmoid), left in `workspace.logits`.
    func decodeLogits(parameters p: UnsafePointer<Float>, z: UnsafePointer<Float>, batch n: Int, precision: Precision,
                      workspace w: Workspace, helpers: Helpers? = nil) {
        let o = layout.offsets
        Dense.forward(z, batch: n, inputs: latentDimension, outputs: VAE.decoderWidth,
                      weight: p + o.decDenseW, bias: p + o.decDenseB, relu: true, into: w.decoderDense)
        VAE.decoderGrid.copy(images: w.decoderDense, batch: n, into: w.decoderGrid)
        UpsamplingConvTranspose2D.forward(w.decoderGrid, batch: n, input: VAE.decoderGrid, outputs: VAE.decoderChannels,
                                          kernel: p + o.deconv1W, bias: p + o.deconv1B, relu: true, precision: precision,
                                          scratch: w.convolutionScratch, helpers: helpers, into: w.deconv1Grid)
        UpsamplingConvTranspose2D.forward(w.deconv1Grid, batch: n, input: VAE.deconv1Grid, outputs: VAE.deconv2Channels,
                                          kernel: p + o.deconv2W, bias: p + o.deconv2B, relu: true, precision: precision,
                                          scratch: w.convolutionScratch, helpers: helpers, into: w.deconv2Grid)
        OutputConvTranspose2D.forward(w.deconv2Grid, batch: n, input: VAE.deconv2Grid,
                                      kernel: p + o.deconv3W, bias: p + o.deconv3B, into: w.logits)
    }

    // Decoding and evaluation multiply in float32 whatever precision trained the weights: they
    // are float32 masters, and the exported ONNX model reproduces these outputs.

    /// Decodes `z` [batch, latent] into pixel probabilities [batch, 784].
    public func decode(parameters p: UnsafePointer<Float>, z: UnsafePointer<Float>, batch n: Int,
                       workspace w: Workspace, into out: UnsafeMutablePointer<Float>) {
        decodeLogits(parameters: p, z: z, batch: n, precision: .fp32, workspace: w)
        out.update(from: w.logits, count: n * VAE.outputPixels)
        Elementwise.sigmoid(out, count: n * VAE.outputPixels)
    }

    /// Evaluation: encodes, decodes `z_mean` (no sampling), and returns the summed losses
    /// against `targets`; the decoded pixels go to `reconstruction` if given.
    public func evaluate(parameters p: UnsafePointer<Float>, inputs: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                         batch n: Int, workspace w: Workspace, reconstruction out: UnsafeMutablePointer<Float>?) -> LossSums {
        encode(parameters: p, inputs: inputs, batch: n, workspace: w)
        decodeLogits(parameters: p, z: w.mean, batch: n, precision: .fp32, workspace: w)
        let reconstruction = Elementwise.sigmoidCrossEntropy(
            logits: w.logits, targets: targets, count: n * VAE.outputPixels, gradientScale: 0, logitGradient: w.dLogits)
        if let out {
            out.update(from: w.logits, count: n * VAE.outputPixels)
            Elementwise.sigmoid(out, count: n * VAE.outputPixels)
        }
        return LossSums(reconstruction: reconstruction,
                        kl: Sampling.divergence(mean: w.mean, logVar: w.logVar, count: n * latentDimension))
    }
}

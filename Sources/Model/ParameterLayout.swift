/// One named tensor inside the flat parameter buffer.
public struct ParameterSpec: Sendable, Equatable {
    /// Keras name, e.g. `decoder.deconv1.kernel`.
    public let name: String
    /// Keras layout: Conv2D [kh, kw, in, out], Conv2DTranspose [kh, kw, out, in], Dense [in, out].
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
    public var isKernel: Bool { name.hasSuffix(".kernel") }
}

/// Where every parameter lives in the one contiguous buffer that holds them all (and, with the
/// same offsets, in the gradient buffer and the optimiser's moment buffers). One buffer means
/// one collective call moves every gradient, and one write saves them.
public struct ParameterLayout: Sendable, Equatable {
    public let shape: ModelShape
    public var latentDimension: Int { shape.latentDimension }
    public let specs: [ParameterSpec]
    public let count: Int
    /// Where each tensor starts, by name, for the forward and backward passes.
    let offsets: Offsets

    public init(shape: ModelShape) {
        self.shape = shape
        let l = shape.latentDimension
        var specs: [ParameterSpec] = []
        /// Places the tensor `name` after the others and returns where it starts.
        func place(_ name: String, _ shape: [Int]) -> Int {
            let offset = specs.last.map { $0.offset + $0.count } ?? 0
            specs.append(ParameterSpec(name: name, shape: shape, offset: offset))
            return offset
        }
        // Keras's order (arguments are evaluated left to right), which checkpoints keep too; the
        // shapes are `VAE`'s widths and the model's own.
        let k = VAE.kernelSide, c1 = VAE.conv1Channels, c2 = VAE.conv2Channels, hidden = shape.encoderWidth
        let d1 = VAE.decoderChannels, d2 = VAE.deconv2Channels
        offsets = Offsets(
            conv1W: place("encoder.conv1.kernel", [k, k, 1, c1]), conv1B: place("encoder.conv1.bias", [c1]),
            conv2W: place("encoder.conv2.kernel", [k, k, c1, c2]), conv2B: place("encoder.conv2.bias", [c2]),
            denseW: place("encoder.dense.kernel", [VAE.flatWidth, hidden]), denseB: place("encoder.dense.bias", [hidden]),
            meanW: place("encoder.z_mean.kernel", [hidden, l]), meanB: place("encoder.z_mean.bias", [l]),
            logVarW: place("encoder.z_log_var.kernel", [hidden, l]), logVarB: place("encoder.z_log_var.bias", [l]),
            decDenseW: place("decoder.dense.kernel", [l, VAE.decoderWidth]), decDenseB: place("decoder.dense.bias", [VAE.decoderWidth]),
            deconv1W: place("decoder.deconv1.kernel", [k, k, d1, d1]), deconv1B: place("decoder.deconv1.bias", [d1]),
            deconv2W: place("decoder.deconv2.kernel", [k, k, d2, d1]), deconv2B: place("decoder.deconv2.bias", [d2]),
            deconv3W: place("decoder.deconv3.kernel", [k, k, 1, d2]), deconv3B: place("decoder.deconv3.bias", [1]))
        self.specs = specs
        count = specs.last.map { $0.offset + $0.count } ?? 0
    }

    /// The start of every tensor, bound to its name once (in `init`).
    struct Offsets: Sendable, Equatable {
        let conv1W, conv1B, conv2W, conv2B, denseW, denseB, meanW, meanB, logVarW, logVarB: Int
        let decDenseW, decDenseB, deconv1W, deconv1B, deconv2W, deconv2B, deconv3W, deconv3B: Int
    }
}

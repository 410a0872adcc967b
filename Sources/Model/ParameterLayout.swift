/// One named tensor inside the flat parameter buffer.
public struct ParameterSpec: Sendable, Equatable {
    /// Keras name, e.g. `decoder.deconv1.kernel` (SPEC 2).
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
    public let latentDimension: Int
    public let specs: [ParameterSpec]
    public let count: Int

    public init(latentDimension: Int) {
        precondition(latentDimension > 0)
        self.latentDimension = latentDimension
        let l = latentDimension
        let shapes: [(String, [Int])] = [
            ("encoder.conv1.kernel", [3, 3, 1, 32]), ("encoder.conv1.bias", [32]),
            ("encoder.conv2.kernel", [3, 3, 32, 64]), ("encoder.conv2.bias", [64]),
            ("encoder.dense.kernel", [256, 16]), ("encoder.dense.bias", [16]),
            ("encoder.z_mean.kernel", [16, l]), ("encoder.z_mean.bias", [l]),
            ("encoder.z_log_var.kernel", [16, l]), ("encoder.z_log_var.bias", [l]),
            ("decoder.dense.kernel", [l, 3136]), ("decoder.dense.bias", [3136]),
            ("decoder.deconv1.kernel", [3, 3, 64, 64]), ("decoder.deconv1.bias", [64]),
            ("decoder.deconv2.kernel", [3, 3, 32, 64]), ("decoder.deconv2.bias", [32]),
            ("decoder.deconv3.kernel", [3, 3, 1, 32]), ("decoder.deconv3.bias", [1]),
        ]
        var offset = 0
        var specs: [ParameterSpec] = []
        for (name, shape) in shapes {
            specs.append(ParameterSpec(name: name, shape: shape, offset: offset))
            offset += shape.reduce(1, *)
        }
        self.specs = specs
        count = offset
    }

    /// Offsets of the parameters, resolved once so the hot path never looks names up.
    struct Offsets {
        let conv1W, conv1B, conv2W, conv2B, denseW, denseB, meanW, meanB, logVarW, logVarB: Int
        let decDenseW, decDenseB, deconv1W, deconv1B, deconv2W, deconv2B, deconv3W, deconv3B: Int
    }

    var offsets: Offsets {
        let o = specs.map(\.offset)
        return Offsets(conv1W: o[0], conv1B: o[1], conv2W: o[2], conv2B: o[3], denseW: o[4], denseB: o[5],
                       meanW: o[6], meanB: o[7], logVarW: o[8], logVarB: o[9],
                       decDenseW: o[10], decDenseB: o[11], deconv1W: o[12], deconv1B: o[13],
                       deconv2W: o[14], deconv2B: o[15], deconv3W: o[16], deconv3B: o[17])
    }
}

import Model
import TensorBoard

/// A trained model as an ONNX file (opset 17), for onnxruntime and the tools that read ONNX.
///
/// The messages are written by hand with the protobuf encoder the TensorBoard writer uses:
/// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto and ValueInfoProto, a few
/// fields each; swift-protobuf would bring its code generator and slow build plugin (or a large
/// generated file) for that. Tensors are NCHW, as ONNX's convolutions want: Keras's NHWC
/// flatten and reshape become a Transpose beside the Reshape.
public struct ONNXModel {
    public enum Part: Sendable {
        /// `input` [batch, 1, 8, 8] in, `z_mean` [batch, latent] and `output` [batch, 1, 28, 28] out.
        case upscaler
        /// `z` [batch, latent] in, `output` [batch, 1, 28, 28] out.
        case decoder
    }

    static let opset: Int64 = 17, irVersion: Int64 = 8
    static let batch = "batch"

    private var nodes: [ProtobufMessage] = []
    private var initializers: [ProtobufMessage] = []
    private let weights: InferenceWeights
    private var names = 0

    /// The ONNX file's bytes.
    public static func bytes(_ weights: InferenceWeights, _ part: Part) -> [UInt8] {
        var model = ONNXModel(weights: weights)
        let latent = Int64(weights.model.latentDimension)
        let inputs: [(String, [Int64?])], outputs: [(String, [Int64?])]
        switch part {
        case .upscaler:
            let z = model.encoder("input")
            model.node("Identity", [z], output: "z_mean")
            model.decoder(z, output: "output")
            inputs = [("input", [nil, 1, 8, 8])]
            outputs = [("z_mean", [nil, latent]), ("output", [nil, 1, 28, 28])]
        case .decoder:
            model.decoder("z", output: "output")
            inputs = [("z", [nil, latent])]
            outputs = [("output", [nil, 1, 28, 28])]
        }
        var graph = ProtobufMessage()
        for node in model.nodes { graph.message(1, node) }
        graph.string(2, part == .upscaler ? "vae upscaler" : "vae decoder")
        for tensor in model.initializers { graph.message(5, tensor) }
        for (name, shape) in inputs { graph.message(11, valueInfo(name, shape)) }
        for (name, shape) in outputs { graph.message(12, valueInfo(name, shape)) }

        var opset = ProtobufMessage()
        opset.string(1, "")
        opset.int(2, Self.opset)
        var file = ProtobufMessage()
        file.int(1, Self.irVersion)
        file.string(2, "vae")
        file.message(7, graph)
        file.message(8, opset)
        return file.bytes
    }

    /// The encoder up to z_mean; returns its name.
    private mutating func encoder(_ input: String) -> String {
        // TensorFlow's stride-2 "same" padding puts the odd cell after: pads (top, left, bottom, right).
        var x = convolution("Conv", input, "encoder.conv1", strides: 2, pads: [0, 0, 1, 1])
        x = node("Relu", [x])
        x = convolution("Conv", x, "encoder.conv2", strides: 2, pads: [0, 0, 1, 1])
        x = node("Relu", [x])
        // Keras flattens HWC.
        x = node("Transpose", [x], ints: [("perm", [0, 2, 3, 1])])
        x = node("Reshape", [x, int64Constant([-1, 256])])
        x = node("Relu", [dense(x, "encoder.dense")])
        return dense(x, "encoder.z_mean")
    }

    private mutating func decoder(_ z: String, output: String) {
        var x = node("Relu", [dense(z, "decoder.dense")])
        x = node("Reshape", [x, int64Constant([-1, 7, 7, 64])])
        x = node("Transpose", [x], ints: [("perm", [0, 3, 1, 2])])
        // Explicit pads, not auto_pad SAME_UPPER/LOWER: onnxruntime's ConvTranspose has put the
        // odd cell on the other side from ONNX's definition, and changed that between versions.
        // A stride-2 "same" transposed convolution has its forward convolution's pads, (0, 0, 1, 1).
        x = convolution("ConvTranspose", x, "decoder.deconv1", strides: 2, pads: [0, 0, 1, 1])
        x = node("Relu", [x])
        x = convolution("ConvTranspose", x, "decoder.deconv2", strides: 2, pads: [0, 0, 1, 1])
        x = node("Relu", [x])
        x = convolution("ConvTranspose", x, "decoder.deconv3", strides: 1, pads: [1, 1, 1, 1])
        node("Sigmoid", [x], output: output)
    }

    /// A 3x3 convolution, its Keras kernel [kh, kw, a, b] laid out as ONNX's [b, a, kh, kw]:
    /// Conv2D's [kh, kw, in, out] becomes Conv's [out, in, kh, kw], Conv2DTranspose's
    /// [kh, kw, out, in] ConvTranspose's [in, out, kh, kw] (neither flips the kernel).
    private mutating func convolution(_ op: String, _ x: String, _ layer: String, strides: Int64, pads: [Int64]) -> String {
        let (shape, values) = parameter("\(layer).kernel")
        let permutation = [3, 2, 0, 1]
        let permuted = permutation.map { shape[$0] }
        var out = [Float](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: 4)
        for i in 0..<values.count {
            var rest = i
            for axis in (0..<4).reversed() { index[axis] = rest % shape[axis]; rest /= shape[axis] }
            var target = 0
            for axis in 0..<4 { target = target * permuted[axis] + index[permutation[axis]] }
            out[target] = values[i]
        }
        let w = floatConstant(permuted, out), b = floatConstant(parameter("\(layer).bias"))
        return node(op, [x, w, b], ints: [("kernel_shape", [3, 3]), ("strides", [strides, strides]), ("pads", pads)])
    }

    /// `x [n, in] · kernel [in, out] + bias`.
    private mutating func dense(_ x: String, _ layer: String) -> String {
        node("Gemm", [x, floatConstant(parameter("\(layer).kernel")), floatConstant(parameter("\(layer).bias"))])
    }

    private func parameter(_ name: String) -> ([Int], [Float]) {
        let spec = weights.model.layout.specs.first { $0.name == name }!
        return (spec.shape, Array(weights.parameters[spec.range]))
    }

    private mutating func fresh(_ stem: String) -> String {
        names += 1
        return "\(stem)_\(names)"
    }

    @discardableResult
    private mutating func node(_ op: String, _ inputs: [String], output: String? = nil,
                               ints: [(String, [Int64])] = []) -> String {
        let out = output ?? fresh(op.lowercased())
        var node = ProtobufMessage()
        for input in inputs { node.string(1, input) }
        node.string(2, out)
        node.string(3, out)
        node.string(4, op)
        for (name, values) in ints {
            var attribute = ProtobufMessage()
            attribute.string(1, name)
            for value in values { attribute.int(8, value) }
            attribute.int(20, 7)    // INTS
            node.message(5, attribute)
        }
        nodes.append(node)
        return out
    }

    private mutating func floatConstant(_ tensor: ([Int], [Float])) -> String { floatConstant(tensor.0, tensor.1) }

    private mutating func floatConstant(_ shape: [Int], _ values: [Float]) -> String {
        constant(shape.map(Int64.init), type: 1, raw: values.flatMap { value in
            withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
        })
    }

    private mutating func int64Constant(_ values: [Int64]) -> String {
        constant([Int64(values.count)], type: 7, raw: values.flatMap { value in
            withUnsafeBytes(of: value.littleEndian, Array.init)
        })
    }

    /// An initializer of TensorProto data type `type` (1 float, 7 int64), little-endian raw data.
    private mutating func constant(_ dims: [Int64], type: Int64, raw: [UInt8]) -> String {
        let name = fresh("weight")
        var tensor = ProtobufMessage()
        for dim in dims { tensor.int(1, dim) }
        tensor.int(2, type)
        tensor.string(8, name)
        tensor.data(9, raw)
        initializers.append(tensor)
        return name
    }

    /// A float tensor's name and shape; nil dimensions are the variable batch.
    private static func valueInfo(_ name: String, _ shape: [Int64?]) -> ProtobufMessage {
        var dims = ProtobufMessage()
        for size in shape {
            var dim = ProtobufMessage()
            if let size { dim.int(1, size) } else { dim.string(2, batch) }
            dims.message(1, dim)
        }
        var tensor = ProtobufMessage()
        tensor.int(1, 1)
        tensor.message(2, dims)
        var type = ProtobufMessage()
        type.message(1, tensor)
        var info = ProtobufMessage()
        info.string(1, name)
        info.message(2, type)
        return info
    }
}

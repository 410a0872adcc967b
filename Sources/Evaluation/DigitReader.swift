import Checkpoint
import Foundation
import Kernels
import Model

/// A small CNN digit classifier, trained once on the 60,000 MNIST training digits by
/// `bench/train_digit_reader.py`, that says whether an upscale still reads as its digit. Its
/// weights are `data/digit-reader.safetensors`, pinned by their `data_sha256`.
///
///   conv 3x3 same, 16, relu -> max-pool 2 -> conv 3x3 same, 32, relu -> max-pool 2
///   -> flatten (7x7x32) -> dense 64, relu -> dense 10
///
/// It runs on the model's own layers (`Conv2D`, `Dense`: the patch gather and `gemm`), about
/// 2.2 million multiply-adds an image.
public struct DigitReader: Sendable {
    /// The SHA-256 of the tensor bytes of the reader this code was written for: the
    /// figures `vae eval` reports are this reader's, so another file is refused.
    public static let dataSHA256 = "f1012b220eeafd1ce0fc5b4cba329dac792e6c4abf6a71d466fd5014013cffe0"
    public static let fileName = "digit-reader.safetensors"

    static let side = 28, classes = 10
    static let conv1Channels = 16, conv2Channels = 32, hiddenWidth = 64
    static let conv1 = PatchGeometry(small: (side, side), large: (side, side), channels: 1, stride: 1, pad: 1)
    static let conv2 = PatchGeometry(small: (side / 2, side / 2), large: (side / 2, side / 2),
                                     channels: conv1Channels, stride: 1, pad: 1)
    static var flatWidth: Int { (side / 4) * (side / 4) * conv2Channels }
    /// Images per pass: the largest buffer (conv2's patches) stays under 2 MB.
    static let batch = 16

    /// The tensors in Keras's layouts (conv kernels [3, 3, in, out], dense [in, out]).
    static let shapes: [(name: String, shape: [Int])] = [
        ("conv1.kernel", [3, 3, 1, conv1Channels]), ("conv1.bias", [conv1Channels]),
        ("conv2.kernel", [3, 3, conv1Channels, conv2Channels]), ("conv2.bias", [conv2Channels]),
        ("dense.kernel", [flatWidth, hiddenWidth]), ("dense.bias", [hiddenWidth]),
        ("logits.kernel", [hiddenWidth, classes]), ("logits.bias", [classes]),
    ]
    private let tensors: [[Float]]

    /// Reads and checks the reader's weights: the file whole (its data against its
    /// `data_sha256`), that digest the pinned one, every tensor of its shape.
    public init(_ url: URL) throws {
        // The read checks the data against a data_sha256 when there is one.
        let file = try SafeTensors.read(url, requireChecksum: false)
        let digest = file.metadata[SafeTensors.checksumKey]
        guard digest == Self.dataSHA256 else {
            throw CheckpointError(url, "is not the digit reader vae was built with (its data_sha256 is \(digest ?? "missing"), expected \(Self.dataSHA256))")
        }
        tensors = try Self.shapes.map { name, shape in
            var values = [Float](repeating: 0, count: shape.reduce(1, *))
            try values.withUnsafeMutableBufferPointer { try file.copy(name, expectedShape: shape, into: $0) }
            return values
        }
    }

    /// The digit read in each of `count` 28x28 images (row-major floats in [0, 1], one after another).
    public func read(_ images: [Float], count: Int) -> [UInt8] {
        let pixels = Self.side * Self.side
        precondition(images.count == count * pixels, "\(images.count) values are not \(count) images of 28x28")
        let n = Self.batch, c1 = Self.conv1, c2 = Self.conv2
        var patches = [Float](repeating: 0, count: n * max(c1.smallPositions * c1.patchWidth, c2.smallPositions * c2.patchWidth))
        var conv1 = [Float](repeating: 0, count: n * c1.smallPositions * Self.conv1Channels)
        var pool1 = [Float](repeating: 0, count: n * c2.largeCount)
        var conv2 = [Float](repeating: 0, count: n * c2.smallPositions * Self.conv2Channels)
        var pool2 = [Float](repeating: 0, count: n * Self.flatWidth)
        var hidden = [Float](repeating: 0, count: n * Self.hiddenWidth)
        var logits = [Float](repeating: 0, count: n * Self.classes)
        var digits = [UInt8](repeating: 0, count: count)
        let t = tensors
        for start in stride(from: 0, to: count, by: n) {
            let b = min(n, count - start)
            images.withUnsafeBufferPointer { x in
                Conv2D.forward(x.baseAddress! + start * pixels, batch: b, geometry: c1, outputs: Self.conv1Channels,
                               kernel: t[0], bias: t[1], patches: &patches, into: &conv1)
            }
            Self.maxPool(conv1, batch: b, side: Self.side, channels: Self.conv1Channels, into: &pool1)
            Conv2D.forward(pool1, batch: b, geometry: c2, outputs: Self.conv2Channels,
                           kernel: t[2], bias: t[3], patches: &patches, into: &conv2)
            Self.maxPool(conv2, batch: b, side: Self.side / 2, channels: Self.conv2Channels, into: &pool2)
            Dense.forward(pool2, batch: b, inputs: Self.flatWidth, outputs: Self.hiddenWidth,
                          weight: t[4], bias: t[5], relu: true, into: &hidden)
            Dense.forward(hidden, batch: b, inputs: Self.hiddenWidth, outputs: Self.classes,
                          weight: t[6], bias: t[7], relu: false, into: &logits)
            for i in 0..<b {
                let row = logits[(i * Self.classes)..<((i + 1) * Self.classes)]
                digits[start + i] = UInt8(row.indices.max { row[$0] < row[$1] }! - i * Self.classes)
            }
        }
        return digits
    }

    /// 2x2 max-pooling, stride 2, of `batch` HWC images `side` x `side` (even) into `side / 2`.
    private static func maxPool(_ x: [Float], batch: Int, side: Int, channels: Int, into y: inout [Float]) {
        let half = side / 2
        precondition(x.count >= batch * side * side * channels && y.count >= batch * half * half * channels)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                for image in 0..<batch {
                    let source = image * side * side * channels, target = image * half * half * channels
                    for row in 0..<half {
                        for column in 0..<half {
                            let topLeft = x.baseAddress! + source + (2 * row * side + 2 * column) * channels
                            let below = topLeft + side * channels, out = y.baseAddress! + target + (row * half + column) * channels
                            for c in 0..<channels {
                                out[c] = max(max(topLeft[c], topLeft[channels + c]), max(below[c], below[channels + c]))
                            }
                        }
                    }
                }
            }
        }
    }
}

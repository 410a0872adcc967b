import Checkpoint
import Foundation
import Testing
import TestSupport

struct Tensor {
    let name: String
    let shape: [Int]
    let values: [Float]
}

/// Views `tensors` as the buffers `SafeTensors.write` takes, for the duration of `body`.
func withViews<T>(_ tensors: [Tensor], _ body: ([TensorView]) throws -> T) rethrows -> T {
    let flat = tensors.flatMap(\.values)
    return try flat.withUnsafeBufferPointer { buffer in
        var offset = 0
        let views: [TensorView] = tensors.map { tensor in
            defer { offset += tensor.values.count }
            return (tensor.name, tensor.shape, UnsafeBufferPointer(rebasing: buffer[offset..<offset + tensor.values.count]))
        }
        return try body(views)
    }
}

func write(_ tensors: [Tensor], metadata: [String: String] = [:], to url: URL) throws {
    try withViews(tensors) { try SafeTensors.write($0, metadata: metadata, to: url) }
}

/// Tensors with varied shapes, including a scalar, an empty tensor and values whose bits must
/// survive exactly.
let sampleTensors = [
    Tensor(name: "encoder.conv1.kernel", shape: [3, 3, 1, 2], values: (0..<18).map { Float($0) * 0.125 - 1 }),
    Tensor(name: "encoder.conv1.bias", shape: [2], values: [-0.0, .leastNonzeroMagnitude]),
    Tensor(name: "optimizer.m.weird \"name\"\n", shape: [2, 2], values: [.greatestFiniteMagnitude, -.infinity, 1e-30, .pi]),
    Tensor(name: "scalar", shape: [], values: [42.5]),
    Tensor(name: "empty", shape: [0, 3], values: []),
]
let sampleMetadata = ["format_version": "1", "step": "468", "note": "quote \" backslash \\ newline \n tab \t é ✓ \u{01}"]

/// Builds a file from a hand-written header (padded like the reference writer) and data bytes.
func craft(header: String, data: [UInt8], at url: URL) throws {
    var headerBytes = Array(header.utf8)
    headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
    try Data(littleEndian64(UInt64(headerBytes.count)) + headerBytes + data).write(to: url)
}

func littleEndian64(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
}

/// Expects `body` to throw a one-line CheckpointError that names `url` and contains `fragment`.
func expectRefusal(_ url: URL, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \"\(fragment)\" for \(url.lastPathComponent)", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
        let text = error.description
        #expect(text.hasPrefix(url.path + ": "), "\(text)", sourceLocation: sourceLocation)
        #expect(text.contains(fragment), "\(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("\n"), "\(text)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a CheckpointError, got \(error)", sourceLocation: sourceLocation)
    }
}

import Dataset
import Foundation
import Testing
import TestSupport

/// The MNIST files bundled with the repository (data/mnist at the package root).
let bundledData = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("data/mnist")

func write(_ bytes: [UInt8], to directory: URL, as name: String) throws {
    try Data(bytes).write(to: directory.appendingPathComponent(name))
}

/// An IDX file written by hand (not with the module's own helper), so headers can be made wrong.
func idxBytes(typeCode: UInt8 = 0x08, shape: [Int], payload: [UInt8]? = nil) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, typeCode, UInt8(shape.count)]
    for size in shape {
        bytes += [UInt8(size >> 24 & 0xff), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff)]
    }
    return bytes + (payload ?? (0..<shape.reduce(1, *)).map { UInt8(truncatingIfNeeded: $0 * 7) })
}

/// A small valid training split: `count` images of `side`x`side` and `labelCount` labels.
func writeTrainingSplit(to directory: URL, count: Int = 3, side: Int = 28, labelCount: Int? = nil) throws {
    try write(idxBytes(shape: [count, side, side]), to: directory, as: "train-images-idx3-ubyte")
    try write(idxBytes(shape: [labelCount ?? count], payload: (0..<(labelCount ?? count)).map { UInt8($0 % 10) }),
              to: directory, as: "train-labels-idx1-ubyte")
}

/// gzip written with stored (uncompressed) deflate blocks: valid gzip made without zlib, so the
/// reader is checked against an independent writer.
func gzipStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]
    var offset = 0
    repeat {
        let length = min(65_535, data.count - offset)
        let isLast = offset + length == data.count
        out.append(isLast ? 1 : 0)
        out += littleEndian(UInt32(length), bytes: 2) + littleEndian(UInt32(~UInt16(length)), bytes: 2)
        out += data[offset..<(offset + length)]
        offset += length
    } while offset < data.count
    return out + littleEndian(crc32(data), bytes: 4) + littleEndian(UInt32(truncatingIfNeeded: data.count), bytes: 4)
}

private func littleEndian(_ value: UInt32, bytes: Int) -> [UInt8] {
    (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

private func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in data {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Loading must fail with a one-line message that contains every fragment.
func expectLoadFailure(_ split: Split = .train, from directory: URL, mentioning fragments: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: DatasetError.self, sourceLocation: sourceLocation) {
        try ImageSet.load(split, from: directory)
    }
    guard let message = error?.description else { return }
    #expect(!message.contains("\n"), "message spans lines: \(message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(message.contains(fragment), "\"\(message)\" does not mention \"\(fragment)\"", sourceLocation: sourceLocation)
    }
}

import Foundation
import Media

extension NPY {
    /// Reads what `NPY.write` and numpy's `np.save` make of a float32 array: format 1.0,
    /// little-endian float32 ('<f4'), C order; anything else is refused.
    public static func read(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        guard bytes.count >= 10, bytes.starts(with: [0x93] + Array("NUMPY".utf8)), bytes[6] == 1 else {
            throw ReadFailed(url, "not a version 1 .npy file")
        }
        let dataStart = 10 + (Int(bytes[8]) | Int(bytes[9]) << 8)
        guard bytes.count >= dataStart else { throw ReadFailed(url, "truncated .npy header") }
        let header = String(decoding: bytes[10..<dataStart], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw ReadFailed(url, "not a C-order float32 .npy: \(header)") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let count = shape.reduce(1, *)
        guard bytes.count - dataStart == 4 * count else {
            throw ReadFailed(url, "shape \(shape) needs \(4 * count) data bytes, found \(bytes.count - dataStart)")
        }
        let values = bytes.withUnsafeBytes { raw in
            (0..<count).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * $0, as: UInt32.self)))
            }
        }
        return (shape, values)
    }
}

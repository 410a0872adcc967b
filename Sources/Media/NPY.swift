import Foundation

/// numpy's `.npy` format for float32 arrays.
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Writes `values` (C order) as a little-endian float32 array of `shape`, byte for byte as
    /// `np.save` would.
    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NPY.write: shape \(shape) does not hold \(values.count) values")
        precondition(shape.count <= 64, "NPY.write: numpy allows at most 64 dimensions")
        var bytes = header(shape: shape)
        let dataStart = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 4 * values.count))
        bytes.withUnsafeMutableBytes { raw in
            for (i, value) in values.enumerated() {
                raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: dataStart + 4 * i, as: UInt32.self)
            }
        }
        try writeMediaFile(bytes, to: url)
    }

    private static func header(shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var text = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // numpy leaves room for the first axis to grow to 21 digits, so the header can be rewritten in place.
        if let first = shape.first { text += String(repeating: " ", count: 21 - String(first).count) }
        // Pad with spaces and end with a newline so the data starts on a 64-byte boundary.
        let unpadded = magic.count + 2 + 2 + text.utf8.count + 1
        text += String(repeating: " ", count: 64 - unpadded % 64) + "\n"
        let length = UInt16(text.utf8.count)
        return magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(text.utf8)
    }
}


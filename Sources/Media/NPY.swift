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

    /// Reads a little-endian float32, C-order array; anything else is refused with a one-line error.
    public static func read(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let bytes = try readMediaFile(url)
        guard bytes.count >= 10, bytes.starts(with: magic) else { throw MediaError(url, "not a .npy file") }
        // Versions 2 and 3 only widen the header length to 4 bytes (3 also allows UTF-8 in it).
        let lengthSize: Int
        switch bytes[6] {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw MediaError(url, "unsupported .npy format version \(bytes[6]).\(bytes[7])")
        }
        guard bytes.count >= 8 + lengthSize else { throw MediaError(url, "damaged .npy: truncated header") }
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let dataStart = 8 + lengthSize + headerLength
        guard bytes.count >= dataStart else { throw MediaError(url, "damaged .npy: truncated header") }
        var parser = LiteralParser(text: Array(bytes[(8 + lengthSize)..<dataStart]))
        guard let fields = parser.dictionary(),
              case .string(let descr)? = fields["descr"],
              case .bool(let fortranOrder)? = fields["fortran_order"],
              case .tuple(let shape)? = fields["shape"]
        else { throw MediaError(url, "damaged .npy: unreadable header") }
        guard descr == "<f4" else {
            throw MediaError(url, ".npy holds '\(descr)' values, but only float32 little-endian ('<f4') is supported")
        }
        guard !fortranOrder else { throw MediaError(url, ".npy is in Fortran order; only C order is supported") }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= bytes.count else {
                throw MediaError(url, "damaged .npy: shape \(shape) is larger than the file")
            }
            count = product
        }
        guard bytes.count - dataStart == 4 * count else {
            throw MediaError(url, "damaged .npy: shape \(shape) needs \(4 * count) data bytes, found \(bytes.count - dataStart)")
        }
        let values = bytes.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * $0, as: UInt32.self))) }
        }
        return (shape, values)
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

/// The few Python literals a `.npy` header uses: a dict of strings, booleans and integer tuples.
private struct LiteralParser {
    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    let text: [UInt8]
    var position = 0

    mutating func dictionary() -> [String: Value]? {
        guard take("{") else { return nil }
        var result: [String: Value] = [:]
        while !take("}") {
            guard case .string(let key)? = value(), take(":"), let value = value() else { return nil }
            result[key] = value
            guard take(",") || peek("}") else { return nil }
        }
        return result
    }

    private mutating func value() -> Value? {
        skipSpace()
        if take("True") { return .bool(true) }
        if take("False") { return .bool(false) }
        if take("(") {
            var items: [Int] = []
            while !take(")") {
                guard let item = integer() else { return nil }
                items.append(item)
                guard take(",") || peek(")") else { return nil }
            }
            return .tuple(items)
        }
        guard position < text.count, text[position] == UInt8(ascii: "'") || text[position] == UInt8(ascii: "\"") else { return nil }
        let quote = text[position]
        guard let end = text[(position + 1)...].firstIndex(of: quote) else { return nil }
        defer { position = end + 1 }
        return .string(String(decoding: text[(position + 1)..<end], as: UTF8.self))
    }

    private mutating func integer() -> Int? {
        skipSpace()
        var result = 0
        let start = position
        while position < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[position]) {
            let (tens, overflow) = result.multipliedReportingOverflow(by: 10)
            guard !overflow, tens <= Int.max - 9 else { return nil }
            result = tens + Int(text[position] - UInt8(ascii: "0"))
            position += 1
        }
        guard position > start else { return nil }
        _ = take("L")  // Python 2 numpy wrote long integers as `3L`.
        return result
    }

    private mutating func take(_ token: String) -> Bool {
        skipSpace()
        guard peek(token) else { return false }
        position += token.utf8.count
        return true
    }

    private mutating func peek(_ token: String) -> Bool {
        skipSpace()
        return text[position...].starts(with: token.utf8)
    }

    private mutating func skipSpace() {
        while position < text.count, text[position] == UInt8(ascii: " ") || text[position] == UInt8(ascii: "\n") {
            position += 1
        }
    }
}

import Crypto
import FileIO
import Foundation

/// What an IDX file is meant to hold. It fixes the number of dimensions required and the words
/// used in error messages.
public enum IDXContent: Sendable {
    /// `[count, rows, columns]`
    case images
    /// `[count]`
    case labels

    var dimensionCount: Int {
        switch self {
        case .images: 3
        case .labels: 1
        }
    }

    var layout: String {
        switch self {
        case .images: "images x rows x columns"
        case .labels: "one label per image"
        }
    }

    func describe(_ shape: [Int], bytes: String) -> String {
        switch self {
        case .images: "\(shape[0]) images of \(shape[1])x\(shape[2]) (\(bytes) bytes)"
        case .labels: "\(shape[0]) labels (\(bytes) bytes)"
        }
    }
}

/// An IDX file of unsigned bytes (the format of MNIST), read whole and checked.
public struct IDXFile: Sendable {
    /// The file as named in messages.
    public let path: String
    /// The dimensions the header gives, outermost first.
    public let shape: [Int]
    /// The data after the header: exactly the product of `shape` bytes.
    public let payload: [UInt8]

    /// The header of an unsigned-byte IDX file of this shape: with the payload after it, the
    /// exact bytes of any file `read` accepts.
    public static func header(shape: [Int]) -> [UInt8] {
        [0, 0, 0x08, UInt8(shape.count)] + shape.flatMap { size in
            (0..<4).reversed().map { UInt8(truncatingIfNeeded: size >> (8 * $0)) }
        }
    }

    /// Reads `url`, raw or gzip-compressed (told apart by the first bytes, not by the name).
    /// With `expectedSHA256` (hex), the bytes on disk must hash to it before anything else is looked at.
    public static func read(_ url: URL, as content: IDXContent, expectedSHA256: String? = nil) throws(DatasetError) -> IDXFile {
        let path = url.messagePath
        let stored = try readFileBytes(url)
        if stored.isEmpty { throw DatasetError(path: path, problem: "empty file") }
        if let expectedSHA256 {
            let actual = hexString(SHA256.hash(data: stored))
            guard actual == expectedSHA256.lowercased() else {
                throw DatasetError(path: path, problem: "does not match \(ChecksumList.fileName); the file is damaged (its SHA-256 is \(actual), the list says \(expectedSHA256.lowercased()))")
            }
        }
        let compressed = Gzip.isCompressed(stored)
        var contents = compressed ? try Gzip.decompress(stored, path: path) : stored
        let shape = try parseHeader(contents, as: content, path: path,
                                    holder: compressed ? "the decompressed data holds" : "the file holds")
        // In place: a copy would fault in another 47 MB for the training images.
        contents.removeSubrange(0..<(4 + 4 * shape.count))
        return IDXFile(path: path, shape: shape, payload: contents)
    }

    /// Checks everything the header claims against `contents` and gives the shape.
    private static func parseHeader(_ contents: [UInt8], as content: IDXContent, path: String, holder: String) throws(DatasetError) -> [Int] {
        func fail(_ problem: String) -> DatasetError { DatasetError(path: path, problem: problem) }
        let expectedStart = "00 00 08 \(hexByte(UInt8(content.dimensionCount)))"

        if contents.isEmpty { throw fail("empty after decompression") }
        guard contents.count >= 4 else {
            throw fail("truncated header: \(holder) \(contents.count) bytes, an IDX header needs at least 4")
        }
        guard contents[0] == 0, contents[1] == 0 else {
            let start = contents[0..<4].map(hexByte).joined(separator: " ")
            throw fail("not an IDX file: it starts with \(start), expected \(expectedStart)")
        }
        guard contents[2] == 0x08 else {
            throw fail("IDX data type 0x\(hexByte(contents[2])) (\(typeName(contents[2]))), expected 0x08 (unsigned byte)")
        }
        let dimensionCount = Int(contents[3])
        guard dimensionCount == content.dimensionCount else {
            throw fail("IDX header gives \(dimensionCount) dimension\(dimensionCount == 1 ? "" : "s"), expected \(content.dimensionCount) (\(content.layout))")
        }
        let headerLength = 4 + 4 * dimensionCount
        guard contents.count >= headerLength else {
            throw fail("truncated header: \(dimensionCount) dimensions need \(headerLength) bytes, \(holder) \(contents.count)")
        }

        let shape = (0..<dimensionCount).map { dimension in
            contents[(4 + 4 * dimension)..<(8 + 4 * dimension)].reduce(0) { $0 << 8 | Int($1) }
        }
        // Three 32-bit sizes can overflow even a 64-bit product; such a header cannot be honoured.
        var payloadLength: Int? = 1
        for size in shape {
            payloadLength = payloadLength.flatMap { length in
                let (product, overflow) = length.multipliedReportingOverflow(by: size)
                return overflow ? nil : product
            }
        }
        let held = contents.count - headerLength
        let announced = content.describe(shape, bytes: payloadLength.map(String.init) ?? "more than 2^63")
        guard let payloadLength, held >= payloadLength else {
            throw fail("truncated: header says \(announced), \(holder) \(held)")
        }
        guard held == payloadLength else {
            throw fail("trailing bytes: header says \(announced), \(holder) \(held)")
        }

        return shape
    }

    private static func typeName(_ code: UInt8) -> String {
        switch code {
        case 0x09: "signed byte"
        case 0x0B: "int16"
        case 0x0C: "int32"
        case 0x0D: "float32"
        case 0x0E: "float64"
        default: "unknown"
        }
    }
}

import Crypto
import FileIO
import Foundation

/// One tensor to write: its name, its shape and its float32 values in row-major order.
public typealias TensorView = (name: String, shape: [Int], values: UnsafeBufferPointer<Float>)

/// Reading and writing the safetensors format, float32 tensors only.
public enum SafeTensors {
    /// The metadata key holding the hex SHA-256 of every byte after the header.
    public static let checksumKey = "data_sha256"
    /// Larger headers are refused before any allocation, as the reference implementation does.
    public static let maxHeaderLength = 100_000_000

    /// Writes `tensors` in the given order with `metadata` plus `data_sha256` (any value given
    /// for that key is replaced). The same inputs always give the same bytes. The file at `url`
    /// is replaced atomically: it is either left as it was or holds the whole new file, and no
    /// temporary file is left behind on failure (`beforeRename` is a hook for crash tests).
    public static func write(_ tensors: [TensorView], metadata: [String: String], to url: URL,
                             beforeRename: () -> Void = {}) throws {
        var names = Set<String>()
        var byteCounts: [Int] = []
        for tensor in tensors {
            guard tensor.name != "__metadata__" else { throw CheckpointError(url, "__metadata__ cannot be a tensor name") }
            guard names.insert(tensor.name).inserted else { throw CheckpointError(url, "tensor \(tensor.name) is given twice") }
            guard let count = elementCount(tensor.shape), count == tensor.values.count else {
                throw CheckpointError(url, "tensor \(tensor.name) has shape \(describe(tensor.shape)) but \(tensor.values.count) values")
            }
            byteCounts.append(count * 4)
        }

        var data = [UInt8](repeating: 0, count: byteCounts.reduce(0, +))
        data.withUnsafeMutableBytes { out in
            var offset = 0
            for tensor in tensors {
                for value in tensor.values {
                    out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
                    offset += 4
                }
            }
        }

        var allMetadata = metadata
        allMetadata[checksumKey] = hexDigest(data)
        // Written by hand around Foundation's string literals so that the bytes are a pure
        // function of the inputs: metadata keys sorted, tensors in the order given.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        func literal(_ string: String) -> String { String(decoding: try! encoder.encode(string), as: UTF8.self) }
        var json = "{\"__metadata__\":{"
        json += allMetadata.keys.sorted().map { literal($0) + ":" + literal(allMetadata[$0]!) }.joined(separator: ",")
        json += "}"
        var offset = 0
        for (tensor, byteCount) in zip(tensors, byteCounts) {
            json += "," + literal(tensor.name)
            json += ":{\"dtype\":\"F32\",\"shape\":\(describe(tensor.shape)),\"data_offsets\":[\(offset),\(offset + byteCount)]}"
            offset += byteCount
        }
        json += "}"

        // Padding keeps the data 8-byte aligned, as the reference writer does.
        var header = Array(json.utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var length = [UInt8](repeating: 0, count: 8)
        length.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self) }

        do {
            try writeAtomically([length, header, data], to: url, beforeRename: beforeRename)
        } catch {
            throw CheckpointError(url, error.problem)
        }
    }

    /// Reads and validates the whole file: structure, offsets and, when present, `data_sha256`.
    /// Nothing is returned unless all of it is sound. With `requireChecksum`, a file without
    /// `data_sha256` (one not written by `write`) is refused too.
    public static func read(_ url: URL, requireChecksum: Bool) throws -> SafeTensorsFile {
        let bytes: [UInt8]
        do {
            bytes = try readFile(url)
        } catch {
            throw CheckpointError(url, error.problem)
        }
        func fail(_ reason: String) -> CheckpointError { CheckpointError(url, reason) }

        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, too short for a safetensors file (the header length alone is 8)")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(maxHeaderLength) else {
            throw fail("header length \(headerLength) is larger than \(maxHeaderLength) bytes; not a safetensors file")
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes); the file is truncated")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = bytes.count - dataStart

        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[8..<dataStart]))
        } catch let error as DecodingError {
            throw fail(Header.describe(error))
        }
        let metadata = header.metadata
        var entries: [String: SafeTensorsFile.Entry] = [:]
        var ordered: [(name: String, entry: SafeTensorsFile.Entry)] = []
        for (name, fields) in header.tensors {
            let entry = try checkEntry(name, fields, fail)
            guard entry.end <= dataLength else {
                throw fail("tensor \(name) data_offsets [\(entry.begin),\(entry.end)] run past the end of the data (\(dataLength) bytes); the file is truncated or damaged")
            }
            entries[name] = entry
            ordered.append((name, entry))
        }

        // The tensors must tile the data region exactly: no overlap, no gap, nothing after.
        ordered.sort { ($0.entry.begin, $0.entry.end, $0.name) < ($1.entry.begin, $1.entry.end, $1.name) }
        var expected = 0
        var previous: String?
        for (name, entry) in ordered {
            if entry.begin < expected {
                throw fail("tensors \(previous!) and \(name) overlap (tensor \(name) begins at byte \(entry.begin), before byte \(expected))")
            }
            if entry.begin > expected {
                let after = previous.map { "between tensor \($0) and tensor \(name)" } ?? "before tensor \(name)"
                throw fail("\(entry.begin - expected) unused bytes in the data \(after)")
            }
            expected = entry.end
            previous = name
        }
        if expected < dataLength {
            throw fail("\(dataLength - expected) bytes of trailing data after the last tensor")
        }

        let data = Array(bytes[dataStart...])
        if let recorded = metadata[checksumKey] {
            guard recorded.lowercased() == hexDigest(data) else {
                throw fail("data does not match its \(checksumKey): the file is damaged or truncated")
            }
        } else if requireChecksum {
            throw fail("has no \(checksumKey); not a checkpoint written by vae")
        }

        return SafeTensorsFile(url: url, metadata: metadata, checksumVerified: metadata[checksumKey] != nil,
                               names: ordered.map(\.name), entries: entries, data: data)
    }

    private static func checkEntry(_ name: String, _ fields: Header.Fields, _ fail: (String) -> CheckpointError) throws -> SafeTensorsFile.Entry {
        guard fields.dtype == "F32" else { throw fail("tensor \(name) has dtype \(fields.dtype); only F32 tensors are supported") }
        let shape = fields.shape
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor \(name) shape is not a list of non-negative integers") }
        let bounds = fields.data_offsets
        guard bounds.count == 2, bounds[0] >= 0, bounds[0] <= bounds[1] else {
            throw fail("tensor \(name) data_offsets is not [begin, end] with 0 <= begin <= end")
        }
        let (begin, end) = (bounds[0], bounds[1])
        guard let count = elementCount(shape), case let (byteCount, false) = count.multipliedReportingOverflow(by: 4),
              byteCount == end - begin
        else {
            throw fail("tensor \(name) has shape \(describe(shape)) but data_offsets [\(begin),\(end)] hold \(end - begin) bytes")
        }
        return SafeTensorsFile.Entry(shape: shape, begin: begin, end: end)
    }

    private static func hexDigest(_ data: [UInt8]) -> String {
        hexString(SHA256.hash(data: data))
    }
}

/// The number of elements of `shape`, or nil when a dimension is negative or the product overflows.
func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        guard !overflow else { return nil }
        count = product
    }
    return count
}

/// The header as Foundation's JSONDecoder reads it: `__metadata__`, string to string, and the
/// tensors' entries. JSONDecoder is lenient where a hand-written parser was strict (measured on
/// Linux: it keeps one of duplicate keys and takes control characters and lone surrogates in
/// strings, a trailing comma, and 1.0 or 1e2 as integers); none of that can pass a damaged file
/// off as sound: the tensors must still tile the data exactly and match `data_sha256`.
private struct Header: Decodable {
    struct Fields: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    var metadata: [String: String] = [:]
    var tensors: [(name: String, fields: Fields)] = []

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                tensors.append((key.stringValue, try container.decode(Fields.self, forKey: key)))
            }
        }
    }

    /// One line naming the part of the header that is wrong.
    static func describe(_ error: DecodingError) -> String {
        let path: [String]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath.map(\.stringValue)
        case .keyNotFound(let key, let context):
            return "tensor \(context.codingPath.first?.stringValue ?? "?") has no \(key.stringValue)"
        @unknown default:
            path = []
        }
        guard let name = path.first else {
            if case .dataCorrupted = error { return "header is not valid JSON" }
            return "header is not a JSON object"
        }
        if name == "__metadata__" {
            return path.count == 1 ? "__metadata__ is not an object" : "__metadata__ value of \(path[1]) is not a string"
        }
        switch path.dropFirst().first {
        case nil: return "tensor \(name) is not an object"
        case "dtype": return "tensor \(name) dtype is not a string"
        case "shape": return "tensor \(name) shape is not a list of non-negative integers"
        default: return "tensor \(name) data_offsets is not [begin, end] with 0 <= begin <= end"
        }
    }
}

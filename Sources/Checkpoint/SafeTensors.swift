import Crypto
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
        var json = "{\"__metadata__\":{"
        for (index, key) in allMetadata.keys.sorted().enumerated() {
            if index > 0 { json += "," }
            appendJSONString(key, to: &json)
            json += ":"
            appendJSONString(allMetadata[key]!, to: &json)
        }
        json += "}"
        var offset = 0
        for (tensor, byteCount) in zip(tensors, byteCounts) {
            json += ","
            appendJSONString(tensor.name, to: &json)
            json += ":{\"dtype\":\"F32\",\"shape\":\(describe(tensor.shape)),\"data_offsets\":[\(offset),\(offset + byteCount)]}"
            offset += byteCount
        }
        json += "}"

        // Padding keeps the data 8-byte aligned, as the reference writer does.
        var header = Array(json.utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var length = [UInt8](repeating: 0, count: 8)
        length.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self) }

        try writeAtomically([length, header, data], to: url, beforeRename: beforeRename)
    }

    /// Reads and validates the whole file: structure, offsets and, when present, `data_sha256`.
    /// Nothing is returned unless all of it is sound. With `requireChecksum`, a file without
    /// `data_sha256` (one not written by `write`) is refused too.
    public static func read(_ url: URL, requireChecksum: Bool) throws -> SafeTensorsFile {
        let bytes = try readFile(url)
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

        let json: JSONValue
        do {
            json = try JSONParser.parse(Array(bytes[8..<dataStart]))
        } catch {
            throw fail("header is not valid JSON: \(error.message)")
        }
        guard case .object(let members) = json else { throw fail("header is \(json.kind), not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [String: SafeTensorsFile.Entry] = [:]
        var ordered: [(name: String, entry: SafeTensorsFile.Entry)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw fail("__metadata__ is \(value.kind), not an object") }
                for (key, value) in pairs {
                    guard case .string(let text) = value else {
                        throw fail("__metadata__ value of \(key) is \(value.kind), not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            let entry = try parseEntry(name, value, fail)
            guard entry.end <= dataLength else {
                throw fail("tensor \(name) data_offsets [\(entry.begin),\(entry.end)] run past the end of the data (\(dataLength) bytes); the file is truncated or damaged")
            }
            entries[name] = entry
            ordered.append((name, entry))
        }

        // The tensors must tile the data region exactly: no overlap, no gap, nothing after.
        ordered.sort { ($0.entry.begin, $0.entry.end) < ($1.entry.begin, $1.entry.end) }
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

    private static func parseEntry(_ name: String, _ value: JSONValue, _ fail: (String) -> CheckpointError) throws -> SafeTensorsFile.Entry {
        guard case .object(let fields) = value else { throw fail("tensor \(name) is \(value.kind), not an object") }
        func field(_ key: String) throws -> JSONValue {
            guard let found = fields.first(where: { $0.key == key }) else { throw fail("tensor \(name) has no \(key)") }
            return found.value
        }
        let dtypeValue = try field("dtype")
        guard case .string(let dtype) = dtypeValue else { throw fail("tensor \(name) dtype is \(dtypeValue.kind), not a string") }
        guard dtype == "F32" else { throw fail("tensor \(name) has dtype \(dtype); only F32 tensors are supported") }

        guard case .array(let dims) = try field("shape") else { throw fail("tensor \(name) shape is not an array") }
        let shape = dims.compactMap(\.count)
        guard shape.count == dims.count else { throw fail("tensor \(name) shape is not a list of non-negative integers") }

        guard case .array(let bounds) = try field("data_offsets"), bounds.count == 2,
              let begin = bounds[0].count, let end = bounds[1].count, begin <= end
        else { throw fail("tensor \(name) data_offsets is not [begin, end] with 0 <= begin <= end") }

        guard let count = elementCount(shape), case let (byteCount, false) = count.multipliedReportingOverflow(by: 4),
              byteCount == end - begin
        else {
            throw fail("tensor \(name) has shape \(describe(shape)) but data_offsets [\(begin),\(end)] hold \(end - begin) bytes")
        }
        return SafeTensorsFile.Entry(shape: shape, begin: begin, end: end)
    }

    private static func hexDigest(_ data: [UInt8]) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
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

import Foundation

/// A safetensors file that has been read and validated in full.
public struct SafeTensorsFile: Sendable {
    struct Entry: Sendable {
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    public let url: URL
    public let metadata: [String: String]
    /// False only when the file has no `data_sha256` and it was not required.
    public let checksumVerified: Bool
    /// Tensor names in the order of their data.
    public let names: [String]
    private let entries: [String: Entry]
    private let data: [UInt8]

    init(url: URL, metadata: [String: String], checksumVerified: Bool, names: [String], entries: [String: Entry], data: [UInt8]) {
        self.url = url
        self.metadata = metadata
        self.checksumVerified = checksumVerified
        self.names = names
        self.entries = entries
        self.data = data
    }

    public func shape(of name: String) -> [Int]? {
        entries[name]?.shape
    }

    /// Copies tensor `name` into `destination` after checking that it has `expectedShape`
    /// and that `destination` holds exactly that many values.
    public func copy(_ name: String, expectedShape: [Int], into destination: UnsafeMutableBufferPointer<Float>) throws {
        let entry = try entry(name)
        guard entry.shape == expectedShape else {
            throw CheckpointError(url, "tensor \(name) has shape \(describe(entry.shape)), expected \(describe(expectedShape))")
        }
        guard destination.count == (entry.end - entry.begin) / 4 else {
            throw CheckpointError(url, "tensor \(name) has \((entry.end - entry.begin) / 4) values but the destination holds \(destination.count)")
        }
        load(entry, into: destination)
    }

    private func entry(_ name: String) throws -> Entry {
        guard let entry = entries[name] else { throw CheckpointError(url, "has no tensor \(name)") }
        return entry
    }

    private func load(_ entry: Entry, into destination: UnsafeMutableBufferPointer<Float>) {
        data.withUnsafeBytes { bytes in
            for index in destination.indices {
                let bits = bytes.loadUnaligned(fromByteOffset: entry.begin + 4 * index, as: UInt32.self)
                destination[index] = Float(bitPattern: UInt32(littleEndian: bits))
            }
        }
    }
}

import Foundation

/// A `SHA256SUMS` file as `sha256sum` writes it: `HEX  NAME` lines (`HEX *NAME` in binary mode).
/// Lines starting with `#` are comments; the bundled MNIST list keeps the sums of the
/// decompressed contents there, for people, not for this check.
public struct ChecksumList: Sendable {
    public static let fileName = "SHA256SUMS"

    /// Lower-case hex digest by file name.
    public let digests: [String: String]

    /// Reads `SHA256SUMS` in `directory`, or gives nil when there is none.
    public static func load(in directory: URL) throws(DatasetError) -> ChecksumList? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let bytes = try readFileBytes(url)
        return try ChecksumList(parsing: String(decoding: bytes, as: UTF8.self), path: url.messagePath)
    }

    /// `path` only names the list in error messages.
    public init(parsing text: String, path: String) throws(DatasetError) {
        var digests: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy(\.isWhitespace) || line.hasPrefix("#") { continue }
            let digest = line.prefix(64)
            let separator = line.dropFirst(64).prefix(2)
            let name = line.dropFirst(66)
            guard digest.count == 64, digest.allSatisfy(\.isHexDigit),
                  separator == "  " || separator == " *", !name.isEmpty else {
                throw DatasetError(path: path, problem: "line \(index + 1) is not \"<64 hex digits>  <file name>\": \(line.prefix(80))")
            }
            digests[String(name)] = digest.lowercased()
        }
        self.digests = digests
    }

    public func expectedDigest(forFileNamed name: String) -> String? {
        digests[name]
    }
}

import FileIO
import Foundation

/// A failure worth one line on stderr: the message already names the file.
public struct MediaError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }

    init(_ file: URL, _ problem: String) {
        description = "\(file.relativePath): \(problem)"
    }
}

/// The whole file at `url`, or a `MediaError` naming it.
func readMediaFile(_ url: URL) throws(MediaError) -> [UInt8] {
    do { return try readFile(url) } catch { throw MediaError(url, error.problem) }
}

/// Replaces the file at `url` atomically (see `writeAtomically`), or throws a `MediaError` naming it.
func writeMediaFile(_ bytes: [UInt8], to url: URL) throws(MediaError) {
    do { try writeAtomically(bytes, to: url) } catch { throw MediaError(url, error.problem) }
}

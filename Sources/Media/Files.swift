import Foundation

/// A failure worth one line on stderr: the message already names the file.
public struct MediaError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }

    init(_ file: URL, _ problem: String) {
        description = "\(file.relativePath): \(problem)"
    }
}

/// Reads a whole file, with errno's wording on failure rather than Foundation's multi-line errors.
func readFile(_ url: URL) throws -> [UInt8] {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { throw MediaError(url, String(cString: strerror(errno))) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw MediaError(url, String(cString: strerror(errno)))
        }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
    }
}

/// Writes to a temporary file beside `url` and renames it into place, so an existing file is
/// either left alone or wholly replaced, never half-written.
func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
    func failure() -> MediaError { MediaError(url, "cannot write: \(String(cString: strerror(errno)))") }
    let temporary = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o666)
    guard fd >= 0 else { throw failure() }
    var error: MediaError?
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { error = failure(); break }
        written += n
    }
    // fsync before rename so a crash cannot leave the new name pointing at missing data.
    if error == nil && fsync(fd) != 0 { error = failure() }
    if close(fd) != 0 && error == nil { error = failure() }
    if error == nil && rename(temporary.path, url.path) != 0 { error = failure() }
    if let error {
        unlink(temporary.path)
        throw error
    }
}

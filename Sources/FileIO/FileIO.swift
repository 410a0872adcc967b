import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A refused read or write: what was refused, with the system's own words (Foundation's
/// messages run over several lines). Each module wraps it in its own error, which names the file.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let file: URL
    /// One line, e.g. "cannot open: No such file or directory".
    public let problem: String
    public var description: String { "\(file.path): \(problem)" }

    init(_ file: URL, _ what: String, errno code: Int32 = errno) {
        self.file = file
        problem = "\(what): \(String(cString: strerror(code)))"
    }

    init(_ file: URL, problem: String) {
        self.file = file
        self.problem = problem
    }
}

/// The whole content of the regular file at `url`.
public func readFile(_ url: URL) throws(FileError) -> [UInt8] {
    // Non-blocking so that a FIFO given by mistake is refused instead of hanging; no effect on files.
    let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw FileError(url, "cannot open") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileError(url, "cannot read") }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw FileError(url, problem: (info.st_mode & S_IFMT) == S_IFDIR ? "is a directory, not a file" : "is not a regular file")
    }
    // Read to the end rather than trusting the size, in case the file changes meanwhile.
    var bytes = [UInt8]()
    bytes.reserveCapacity(Int(info.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if got < 0 {
            if errno == EINTR { continue }
            throw FileError(url, "cannot read")
        }
        if got == 0 { return bytes }
        bytes += chunk[..<got]
    }
}

/// Replaces `url` with `chunks` so that a reader, or a crash at any moment, sees either the old
/// file or the whole new one: the bytes go to a hidden temporary file in the same directory (same
/// file system, so rename is atomic), are flushed, and are renamed over the target; the directory
/// is then flushed so the rename itself survives a power cut. `beforeRename` runs between the
/// two, where tests simulate a crash.
public func writeAtomically(_ chunks: [[UInt8]], to url: URL, beforeRename: () -> Void = {}) throws(FileError) {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(
        ".\(url.lastPathComponent)\(temporarySuffix)\(getpid())-\(UInt64.random(in: 0...UInt64.max))")

    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileError(url, "cannot create a temporary file in \(directory.path)") }
    var renamed = false
    defer {
        if !renamed { unlink(temporary.path) }
    }
    do {
        defer { close(fd) }
        for chunk in chunks { try writeAll(fd, chunk, url) }
        guard fsync(fd) == 0 else { throw FileError(url, "cannot flush the temporary file") }
    }
    beforeRename()
    guard rename(temporary.path, url.path) == 0 else { throw FileError(url, "cannot rename the temporary file into place") }
    renamed = true

    // The new file is complete even if this fails; the flush only makes the rename durable sooner.
    let directoryFD = open(directory.path, O_RDONLY | O_CLOEXEC)
    if directoryFD >= 0 {
        _ = fsync(directoryFD)
        close(directoryFD)
    }
}

/// One chunk, for a single buffer.
public func writeAtomically(_ bytes: [UInt8], to url: URL) throws(FileError) {
    try writeAtomically([bytes], to: url)
}

/// Marks the hidden temporary files of `writeAtomically`: `.NAME.tmp-PID-RANDOM`.
public let temporarySuffix = ".tmp-"

private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ url: URL) throws(FileError) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            throw FileError(url, "cannot write the temporary file")
        }
        offset += written
    }
}

private let hexDigits = Array("0123456789abcdef")

/// A byte as two lower-case hex digits.
public func hexByte(_ byte: UInt8) -> String {
    String([hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0f)]])
}

/// Bytes (a digest, say) as lower-case hex, as `sha256sum` writes them.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map(hexByte).joined()
}

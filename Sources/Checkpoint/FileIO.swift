import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces `url` with `chunks` so that a reader, or a crash at any moment, sees either the old
/// file or the whole new one: the bytes go to a hidden temporary file in the same directory (same
/// file system, so rename is atomic), are flushed, and are renamed over the target; the directory
/// is then flushed so the rename itself survives a power cut. `beforeRename` runs between the
/// two, where tests simulate a crash.
func writeAtomically(_ chunks: [[UInt8]], to url: URL, beforeRename: () -> Void = {}) throws {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(
        ".\(url.lastPathComponent)\(temporarySuffix)\(getpid())-\(UInt64.random(in: 0...UInt64.max))")

    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw posixError(url, "cannot create a temporary file in \(directory.path)") }
    var renamed = false
    defer {
        if !renamed { unlink(temporary.path) }
    }
    do {
        defer { close(fd) }
        for chunk in chunks { try writeAll(fd, chunk, url) }
        guard fsync(fd) == 0 else { throw posixError(url, "cannot flush the temporary file") }
    }
    beforeRename()
    guard rename(temporary.path, url.path) == 0 else { throw posixError(url, "cannot rename the temporary file into place") }
    renamed = true

    // The new file is complete even if this fails; the flush only makes the rename durable sooner.
    let directoryFD = open(directory.path, O_RDONLY | O_CLOEXEC)
    if directoryFD >= 0 {
        _ = fsync(directoryFD)
        close(directoryFD)
    }
}

/// Marks the hidden temporary files of `writeAtomically`: `.NAME.tmp-PID-RANDOM`.
let temporarySuffix = ".tmp-"

private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ url: URL) throws {
    try bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw posixError(url, "cannot write the temporary file")
            }
            offset += written
        }
    }
}

/// Wraps the current `errno` in a one-line error about `url`.
func posixError(_ url: URL, _ what: String) -> CheckpointError {
    CheckpointError(url, "\(what): \(String(cString: strerror(errno)))")
}

/// The whole content of the regular file at `url`.
func readFile(_ url: URL) throws -> [UInt8] {
    // Non-blocking so that a FIFO given by mistake is refused instead of hanging; no effect on files.
    let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw posixError(url, "cannot open") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw posixError(url, "cannot read") }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
        throw CheckpointError(url, "is \(kind), not a checkpoint file")
    }
    // Read to the end rather than trusting the size, in case the file changes meanwhile.
    var bytes = [UInt8]()
    bytes.reserveCapacity(Int(info.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if got < 0 {
            if errno == EINTR { continue }
            throw posixError(url, "cannot read")
        }
        if got == 0 { return bytes }
        bytes += chunk[..<got]
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file with POSIX calls: one allocation of the right size, and errors that say
/// plainly what the system refused (Foundation's messages run over several lines).
func readFileBytes(_ url: URL) throws(DatasetError) -> [UInt8] {
    let path = url.messagePath
    let descriptor = open(url.path, O_RDONLY)
    guard descriptor >= 0 else { throw systemError(path, "cannot open") }
    defer { close(descriptor) }

    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw systemError(path, "cannot stat") }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
        throw DatasetError(path: path, problem: "not a regular file")
    }
    let size = Int(status.st_size)

    var failure: DatasetError?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        while initialized < size {
            let got = read(descriptor, buffer.baseAddress! + initialized, size - initialized)
            if got < 0 && errno == EINTR { continue }
            if got < 0 { failure = systemError(path, "cannot read"); return }
            // The file shrank while being read: keep what is there, the IDX checks will refuse it.
            if got == 0 { return }
            initialized += got
        }
    }
    if let failure { throw failure }
    return bytes
}

extension URL {
    /// The path as the user gave it (relative stays relative), for messages.
    var messagePath: String { relativePath }
}

private func systemError(_ path: String, _ action: String) -> DatasetError {
    DatasetError(path: path, problem: "\(action): \(String(cString: strerror(errno)))")
}

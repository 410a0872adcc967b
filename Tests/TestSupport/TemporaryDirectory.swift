import Foundation

/// Runs `body` with a fresh directory under the system's temporary directory (its name starts
/// with `prefix`, for finding leftovers), removed afterwards.
public func withTemporaryDirectory<T>(prefix: String = "vae-tests", _ body: (URL) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

import FileIO
import Foundation

/// The whole file at `url`, or a `DatasetError` naming it as the user gave it.
func readFileBytes(_ url: URL) throws(DatasetError) -> [UInt8] {
    do { return try readFile(url) } catch { throw DatasetError(path: url.messagePath, problem: error.problem) }
}

extension URL {
    /// The path as the user gave it (relative stays relative), for messages.
    var messagePath: String { relativePath }
}

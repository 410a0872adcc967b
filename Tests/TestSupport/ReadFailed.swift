import Foundation

/// A file a test reader could not make sense of: "path: problem".
public struct ReadFailed: Error, CustomStringConvertible {
    public let description: String

    init(_ url: URL, _ problem: String) {
        description = "\(url.path): \(problem)"
    }
}

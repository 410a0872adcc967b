import Foundation

/// A refused checkpoint read or write. `description` is a single line that starts with the file,
/// so a command can print it as is.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let file: URL
    public let reason: String

    public init(_ file: URL, _ reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String {
        // Tensor names and metadata come from the file and may hold line breaks; keep one line.
        "\(file.path): \(reason)"
            .replacingOccurrences(of: "\r", with: "\\r")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Shapes print as `[3,3,1,32]`, the way error messages quote them.
func describe(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ",") + "]"
}

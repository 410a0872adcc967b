/// Anything wrong with the data files. `description` is one line that starts with the file (or
/// directory) concerned, so a command can print it as it is.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or directory the problem is about.
    public let path: String
    /// What is wrong, and where useful what was expected.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

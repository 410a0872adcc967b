/// Where a run of the trainer ended.
public enum TrainingOutcome: Sendable, Equatable {
    case completed
    /// Stopped on request after this step, every rank at the same one, with its checkpoint saved.
    case interrupted(step: Int)
}

/// Training failed in a way the user must hear about (divergence, I/O).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import Foundation

/// Failures that tests inject at exact points, to check what the trainer does about them. Read
/// from the environment variable `VAE_FAULT` (never set in normal use), a comma-separated list of:
///
/// - `nan-gradient@STEP` or `nan-gradient@STEP/RANK`: a gradient value of that step (on that
///   rank, default 0) becomes NaN, as a numerical blow-up would make it;
/// - `crash-saving@STEP`: the process kills itself (SIGKILL) while saving that step's
///   checkpoint, after the file is written and before it is renamed into place.
public struct Faults: Sendable {
    public static let variable = "VAE_FAULT"

    public var nanGradient: (step: Int, rank: Int)?
    public var crashSaving: Int?

    public init() {}

    /// The faults `VAE_FAULT` asks for (none when it is unset).
    public static func fromEnvironment() throws -> Faults {
        guard let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty else { return Faults() }
        return try Faults(parsing: text)
    }

    public init(parsing text: String) throws {
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "@", maxSplits: 1)
            let position = parts.count == 2 ? parts[1].split(separator: "/") : []
            let numbers = position.compactMap { Int($0) }
            guard parts.count == 2, !numbers.isEmpty, numbers.count == position.count, numbers.allSatisfy({ $0 >= 0 }) else {
                throw TrainingError("\(Faults.variable): cannot read '\(item)' (expected nan-gradient@STEP[/RANK] or crash-saving@STEP)")
            }
            switch (parts[0], numbers.count) {
            case ("nan-gradient", 1), ("nan-gradient", 2): nanGradient = (numbers[0], numbers.count == 2 ? numbers[1] : 0)
            case ("crash-saving", 1): crashSaving = numbers[0]
            default: throw TrainingError("\(Faults.variable): unknown fault '\(item)'")
            }
        }
    }

    func poisonsGradient(step: Int, rank: Int) -> Bool {
        nanGradient.map { $0.step == step && $0.rank == rank } ?? false
    }

    /// Dies as a power cut or an OOM kill would: no clean-up runs.
    func crashIfSaving(step: Int) {
        if crashSaving == step { kill(getpid(), SIGKILL) }
    }
}

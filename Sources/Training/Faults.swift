import Foundation

/// Failures that tests inject at exact points, to check what the trainer does about them. Read
/// from the environment variable `VAE_FAULT` (never set in normal use), a comma-separated list of:
///
/// - `nan-gradient@STEP` or `nan-gradient@STEP/RANK`: a gradient value of that step (on that
///   rank, default 0) becomes NaN, as a numerical blow-up would make it;
/// - `crash-saving@STEP`: the process kills itself (SIGKILL) while saving that step's
///   checkpoint, after the file is written and before it is renamed into place;
/// - `freeze-in-sum@STEP[/RANK]`: that rank stops itself (SIGSTOP: frozen, as a hung node) once
///   it has entered the exact sum of that step's gradients;
/// - `freeze-saving@STEP[/RANK]`: that rank stops itself when that step's checkpoint is saved
///   (rank 0 writes it meanwhile, unless it is the one frozen);
/// - `stall@STEP[/RANK]`: that rank's training stops for ever before that step's sums while the
///   process goes on (its heartbeats too): a rank alive but slow.
public struct Faults: Sendable {
    public static let variable = "VAE_FAULT"

    public var nanGradient: (step: Int, rank: Int)?
    public var crashSaving: Int?
    public var freezeInSum: (step: Int, rank: Int)?
    public var freezeSaving: (step: Int, rank: Int)?
    public var stall: (step: Int, rank: Int)?

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
                throw TrainingError("\(Faults.variable): cannot read '\(item)' (expected FAULT@STEP or FAULT@STEP/RANK)")
            }
            let point = (step: numbers[0], rank: numbers.count == 2 ? numbers[1] : 0)
            switch (parts[0], numbers.count) {
            case ("nan-gradient", 1), ("nan-gradient", 2): nanGradient = point
            case ("freeze-in-sum", 1), ("freeze-in-sum", 2): freezeInSum = point
            case ("freeze-saving", 1), ("freeze-saving", 2): freezeSaving = point
            case ("stall", 1), ("stall", 2): stall = point
            case ("crash-saving", 1): crashSaving = numbers[0]
            default: throw TrainingError("\(Faults.variable): unknown fault '\(item)'")
            }
        }
    }

    func poisonsGradient(step: Int, rank: Int) -> Bool {
        nanGradient.map { $0.step == step && $0.rank == rank } ?? false
    }

    /// Whether some rank's gradient is poisoned in `step`.
    func poisonsGradient(step: Int) -> Bool {
        nanGradient.map { $0.step == step } ?? false
    }

    func freezesInSum(step: Int, rank: Int) -> Bool {
        freezeInSum.map { $0.step == step && $0.rank == rank } ?? false
    }

    func freezeIfSaving(step: Int, rank: Int) {
        if let freezeSaving, freezeSaving.step == step && freezeSaving.rank == rank { kill(getpid(), SIGSTOP) }
    }

    /// Stops this thread for ever (the job's abort ends the process).
    func stallIfDue(step: Int, rank: Int) {
        guard let stall, stall.step == step && stall.rank == rank else { return }
        while true { sleep(3600) }
    }

    /// Dies as a power cut or an OOM kill would: no clean-up runs.
    func crashIfSaving(step: Int) {
        if crashSaving == step { kill(getpid(), SIGKILL) }
    }
}

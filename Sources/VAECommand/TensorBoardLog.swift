import Foundation
import TensorBoard
import Training

/// What rank 0 writes to `RUN/tensorboard/` as a run goes: the running losses every few steps,
/// each epoch's losses, test losses, speed and all-reduce time, the outputs' pictures, and the
/// settings. Every value is at its global step; all but the two timings (and wall times) are
/// the same at any world size, since they are the exact sums the trainer shares.
final class TensorBoardLog: TrainingObserver {
    static let folder = "tensorboard"
    let file: EventFile
    let every: Int

    /// A resumed run keeps what was logged up to its checkpoint's `step` and carries on from there.
    init(runDirectory: URL, every: Int, resumingAt step: Int?) throws {
        file = try EventFile(directory: runDirectory.appendingPathComponent(Self.folder), resumingAt: step)
        self.every = every
    }

    func settings(_ rows: [(String, String)]) throws {
        let table = "| setting | value |\n| --- | --- |\n" + rows.map { "| \($0.0) | \($0.1) |" }.joined(separator: "\n")
        try file.text("settings", table, step: 0)
    }

    /// The pictures just written to an outputs folder, and the share of the model's upscales the
    /// digit reader reads right, at `step`.
    func outputs(in directory: URL, step: Int) throws {
        for name in ["upscale", "manifold"] {
            let url = directory.appendingPathComponent("\(name).png")
            guard let png = try? Data(contentsOf: url) else { continue }
            try file.image("outputs/\(name)", png: [UInt8](png), step: step)
        }
        let scores = directory.appendingPathComponent(RunOutputs.scoresFile)
        if let json = try? Data(contentsOf: scores), let figures = try? JSONDecoder().decode(ReadFigures.self, from: json),
           let readRight = figures.read_right {
            try file.scalars([("outputs/read_right", readRight)], step: step)
        }
    }

    /// The one figure of `scores.json` TensorBoard gets: the model's upscales read right.
    private struct ReadFigures: Decodable {
        let read_right: Double?
    }

    func stepFinished(_ p: StepProgress) {
        let step = (p.epoch - 1) * p.stepsPerEpoch + p.stepInEpoch
        guard step % every == 0 else { return }
        // An observer's step hook cannot throw: a failed write ends the run at the epoch's end.
        do {
            try file.scalars([("running/loss", p.loss), ("running/reconstruction_loss", p.reconstructionLoss),
                              ("running/kl_loss", p.klLoss)], step: step)
        } catch {
            failure = failure ?? error
        }
    }
    private var failure: Error?

    func epochFinished(_ m: EpochMetrics) throws {
        if let failure { throw failure }
        var values: [(tag: String, value: Double)] = [
            ("epoch/loss", m.loss), ("epoch/reconstruction_loss", m.reconstructionLoss), ("epoch/kl_loss", m.klLoss),
        ]
        if let test = m.test {
            values += [("test/loss", test.loss), ("test/reconstruction_loss", test.reconstructionLoss), ("test/kl_loss", test.klLoss)]
        }
        values += [("speed/images_per_second", m.imagesPerSecond), ("speed/allreduce_ms_per_step", m.allReduceMillisecondsPerStep)]
        try file.scalars(values, step: m.step)
    }
}

/// Several observers of one trainer, told in order.
final class Observers: TrainingObserver {
    let all: [TrainingObserver]
    init(_ all: [TrainingObserver]) { self.all = all }
    func stepFinished(_ progress: StepProgress) { all.forEach { $0.stepFinished(progress) } }
    func epochFinished(_ metrics: EpochMetrics) throws { try all.forEach { try $0.epochFinished(metrics) } }
}

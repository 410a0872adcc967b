import Foundation
import Training

/// What the user sees: one line per epoch (and a live progress bar when stderr is a
/// terminal); errors as one line on stderr.
final class Console: TrainingObserver {
    /// Ranks other than 0 are quiet: they speak only to fail.
    let quiet: Bool
    let interactive = isatty(STDERR_FILENO) == 1
    private var lastDraw = ContinuousClock.now

    /// Called after each epoch's line, with the number of epochs done (rank 0 only).
    var onEpoch: ((Int) throws -> Void)?

    init(quiet: Bool = false) { self.quiet = quiet }

    func say(_ line: String) { if !quiet { Console.say(line) } }
    func note(_ line: String) { if !quiet { Console.note(line) } }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("vae: \(message)\n".utf8))
        exit(code == 0 ? 1 : code)
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("vae: \(message)\n".utf8))
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func stepFinished(_ p: StepProgress) {
        guard interactive else { return }
        let now = ContinuousClock.now
        guard now - lastDraw > .milliseconds(100) || p.stepInEpoch == p.stepsPerEpoch else { return }
        lastDraw = now
        let width = 24
        let filled = width * p.stepInEpoch / p.stepsPerEpoch
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = Int((Double(p.remainingImages) / max(p.imagesPerSecond, 1)).rounded())
        let line = "\r\u{1B}[2Kepoch \(p.epoch)/\(p.epochs) \(bar) \(p.stepInEpoch)/\(p.stepsPerEpoch)  "
            + String(format: "loss %.2f (rec %.2f, kl %.2f)  %.0f img/s  ETA %d:%02d:%02d",
                     p.loss, p.reconstructionLoss, p.klLoss, p.imagesPerSecond, eta / 3600, eta / 60 % 60, eta % 60)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func epochFinished(_ m: EpochMetrics) throws {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        var line = String(format: "epoch %d  step %d  loss %.4f  reconstruction %.4f  kl %.4f",
                          m.epoch, m.step, m.loss, m.reconstructionLoss, m.klLoss)
        if let test = m.test {
            line += String(format: "  test %.4f (rec %.4f, kl %.4f)", test.loss, test.reconstructionLoss, test.klLoss)
        }
        Console.say(line + String(format: "  %.0f images/s  %.2f s", m.imagesPerSecond, m.seconds))
        try onEpoch?(m.epoch)
    }
}

import ArgumentParser
import Checkpoint
import Foundation
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's position, settings and tensors.")

    @Option(help: "A checkpoint, a run directory (its newest checkpoint), or any safetensors file.")
    var checkpoint: String

    func run() throws {
        let file = try CheckpointLocation.read(URL(fileURLWithPath: checkpoint), warn: { Console.note("skipping \($0)") })
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file.url.path)[.size] as? Int) ?? 0
        var lines = ["file       \(file.url.path) (\(bytes) bytes, "
                     + (file.checksumVerified ? "data_sha256 verified)" : "no data_sha256: weights from another tool)")]
        if let m = try? CheckpointMetadata(file.metadata) {
            lines.append("format     \(CheckpointMetadata.format) version \(CheckpointMetadata.formatVersion), written by \(m.worldSize) rank(s)")
            lines.append("position   step \(m.step): \(m.epoch) epochs done of \(m.settings.epochs)"
                         + (m.stepInEpoch == 0 ? "" : ", \(m.stepInEpoch) steps into the next"))
            lines.append("settings   " + m.settings.shownSettings.map { "\($0) \($1)" }.joined(separator: ", "))
            lines.append("data       sha256 \(m.dataset)")
        }
        let total = file.names.reduce(0) { $0 + (file.shape(of: $1)?.reduce(1, *) ?? 0) }
        lines.append("tensors    \(file.names.count), \(total) float32 values")
        let width = file.names.map(\.count).max() ?? 0
        for name in file.names {
            let shape = file.shape(of: name) ?? []
            let padded = name.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(padded)  \(shape)  \(shape.reduce(1, *))")
        }
        Console.say(lines.joined(separator: "\n"))
    }
}

import ArgumentParser
import Checkpoint
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's position, settings and tensors.")

    @Option(help: "A checkpoint, a run directory (its newest checkpoint), or any safetensors file.")
    var checkpoint: String

    func run() throws {
        let file = try CheckpointLocation.read(URL(fileURLWithPath: checkpoint), warn: { Console.note("skipping \($0)") })
        let m = file.metadata
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file.url.path)[.size] as? Int) ?? 0
        var lines = ["file       \(file.url.path) (\(bytes) bytes, "
                     + (file.checksumVerified ? "data_sha256 verified)" : "no data_sha256: weights from another tool)")]
        if let version = m["format_version"] {
            lines.append("format     \(m["format"] ?? "?") version \(version), written by \(m["world_size"] ?? "?") rank(s)")
            lines.append("position   step \(m["step"] ?? "?"): \(m["epoch"] ?? "?") epochs done of \(m["epochs_planned"] ?? "?")"
                         + ((m["step_in_epoch"] ?? "0") == "0" ? "" : ", \(m["step_in_epoch"]!) steps into the next"))
            lines.append("settings   latent \(m["latent_dim"] ?? "?"), batch \(m["batch_size"] ?? "?"), micro-batch \(m["micro_batch_size"] ?? "?"), "
                         + "learning rate \(m["learning_rate"] ?? "?"), KL weight \(m["kl_weight"] ?? "1"), seed \(m["seed"] ?? "?"), limit \(m["limit"] ?? "?")")
            lines.append("data       sha256 \(m["dataset_sha256"] ?? "?")")
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

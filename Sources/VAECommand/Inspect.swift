import ArgumentParser
import Checkpoint
import Foundation
import Model
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's position, settings and tensors, or the model's architecture as JSON.")

    @Option(help: "A checkpoint, a run directory (its newest checkpoint), or any safetensors file.")
    var checkpoint: String?

    @Flag(help: "Print the model's architecture as one JSON object: latent_dim, input_side, output_side, kernel_side, parameters (their count) and tensors (name, Keras shape, offset in the flat buffer), for the checkpoint's latent size or --latent-dim's.")
    var json = false

    @Option(name: .customLong("latent-dim"), help: "With --json and no --checkpoint, the latent size to describe. (default: 2)")
    var latentDim: Int?

    func validate() throws {
        if checkpoint == nil && !json { throw ValidationError("give --checkpoint (or --json for the architecture)") }
        if checkpoint != nil && latentDim != nil { throw ValidationError("--latent-dim is read off the checkpoint; give one of them") }
        let latent = TrainingConfiguration.setting("latent-dim")
        if let latentDim, !latent.accepts("\(latentDim)") {
            throw ValidationError("--latent-dim must be \(latent.requirement) (got \(latentDim))")
        }
    }

    func run() throws {
        guard let checkpoint else { return describe(VAE(latentDimension: latentDim ?? TrainingConfiguration().latentDimension)) }
        if json { return describe(try InferenceWeights(URL(fileURLWithPath: checkpoint), warn: { Console.note("skipping \($0)") }).model) }
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

    /// The architecture, for the benchmark's peers and anyone building the same model.
    private func describe(_ model: VAE) {
        let tensors = model.layout.specs.map { "{\"name\": \"\($0.name)\", \"shape\": \($0.shape), \"offset\": \($0.offset)}" }
        Console.say("""
        {"latent_dim": \(model.latentDimension), "input_side": \(VAE.inputSide), "output_side": \(VAE.outputSide), \
        "kernel_side": \(VAE.kernelSide), "parameters": \(model.layout.count),
         "tensors": [\(tensors.joined(separator: ",\n  "))]}
        """)
    }
}

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

    @Flag(help: "Print the model's architecture as one JSON object: latent_dim, encoder_width, input_side, output_side, kernel_side, parameters (their count) and tensors (name, Keras shape, offset in the flat buffer), for the checkpoint's shape or --latent-dim's and --encoder-width's.")
    var json = false

    @Option(name: .customLong("latent-dim"), help: "With --json and no --checkpoint, the latent size to describe. (default: 2)")
    var latentDim: Int?

    @Option(name: .customLong("encoder-width"), help: "With --json and no --checkpoint, the encoder width to describe. (default: 16)")
    var encoderWidth: Int?

    func validate() throws {
        if checkpoint == nil && !json { throw ValidationError("give --checkpoint (or --json for the architecture)") }
        for (flag, value) in [("latent-dim", latentDim), ("encoder-width", encoderWidth)] {
            guard let value else { continue }
            if checkpoint != nil { throw ValidationError("--\(flag) is read off the checkpoint; give one of them") }
            let setting = TrainingConfiguration.setting(flag)
            if !setting.accepts("\(value)") { throw ValidationError("--\(flag) must be \(setting.requirement) (got \(value))") }
        }
    }

    func run() throws {
        guard let checkpoint else {
            let seed = TrainingConfiguration().shape
            return describe(VAE(shape: ModelShape(latentDimension: latentDim ?? seed.latentDimension,
                                                  encoderWidth: encoderWidth ?? seed.encoderWidth)))
        }
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
        {"latent_dim": \(model.latentDimension), "encoder_width": \(model.encoderWidth), "input_side": \(VAE.inputSide), "output_side": \(VAE.outputSide), \
        "kernel_side": \(VAE.kernelSide), "parameters": \(model.layout.count),
         "tensors": [\(tensors.joined(separator: ",\n  "))]}
        """)
    }
}

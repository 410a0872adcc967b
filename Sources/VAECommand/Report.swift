import ArgumentParser
import Checkpoint
import Evaluation
import Foundation
import Model
import Training

/// The outputs of training's end, for any checkpoint: an interrupted run, an earlier epoch,
/// weights from elsewhere.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's pictures and report page, as training does at its end.",
        discussion: """
        Writes upscale.png, morph.gif and morph-strip.png, latent.svg, manifold.png (2-D latent), \
        losses.svg (when the checkpoint lies in a run directory's checkpoints/, from its \
        metrics.jsonl up to the checkpoint's epoch) and report.html, which also decodes live from the \
        weights it embeds, into --out.
        """)

    @OptionGroup var weightsOption: WeightsOption
    @OptionGroup var dataOption: DataOption
    @OptionGroup var readerOption: ReaderOption

    @Option(help: "Folder for the pictures and the page (created if needed).")
    var out: String

    func run() throws {
        let file = try CheckpointLocation.read(URL(fileURLWithPath: weightsOption.checkpoint), warn: { Console.note("skipping \($0)") })
        let weights = try InferenceWeights(file)
        let reader = try readerOption.load()
        let train = try dataOption.load(.train), test = try dataOption.load(.test)
        // Weights from elsewhere have no training metadata: their page shows what the tensors say.
        let saved = try? CheckpointMetadata(file.metadata)
        var settings: [(String, String)] = [("checkpoint", file.url.path)]
        if let saved {
            settings.append(("position", "epoch \(saved.epoch) of \(saved.settings.epochs), step \(saved.step)"))
            settings += saved.settings.shownSettings
        } else {
            settings += [("latent dimension", "\(weights.model.latentDimension)"),
                         ("encoder width", "\(weights.model.encoderWidth)")]
        }
        // RUN/checkpoints/step-N.safetensors: RUN/metrics.jsonl holds the curves.
        let folder = file.url.deletingLastPathComponent()
        let metrics = folder.lastPathComponent == "checkpoints"
            ? folder.deletingLastPathComponent().appendingPathComponent("metrics.jsonl") : nil
        let outputs = RunOutputs(directory: URL(fileURLWithPath: out), metrics: metrics, lastEpoch: saved?.epoch, reader: reader)
        let page = try outputs.write(weights, train: train, test: test, settings: settings)
        Console.say("wrote \(page.path) and the pictures beside it")
    }
}

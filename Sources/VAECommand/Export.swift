import ArgumentParser
import Export
import FileIO
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the upscaler, or its decoder alone, as an ONNX model.",
        discussion: """
        The upscaler takes `input` [batch, 1, 8, 8] (pixels in [0, 1], as `vae upscale` makes \
        them) and gives `z_mean` [batch, latent] and `output` [batch, 1, 28, 28]; with \
        --decoder-only the model takes `z` [batch, latent] and gives `output`. The batch size is \
        free. Opset 17; onnxruntime reproduces `vae upscale` to 1e-5.
        """)

    @OptionGroup var weights: WeightsOption

    @Option(help: "The ONNX file to write.")
    var onnx: String

    @Flag(help: "Export the decoder alone: a latent point in, a digit out (for morphs).")
    var decoderOnly = false

    func validate() throws {
        guard onnx.hasSuffix(".onnx") else { throw ValidationError("--onnx must name a .onnx file (got \(onnx))") }
    }

    func run() throws {
        let weights = try self.weights.load()
        let url = URL(fileURLWithPath: onnx)
        try writeAtomically(ONNXModel.bytes(weights, decoderOnly ? .decoder : .upscaler), to: url)
        Console.say("wrote \(url.path): the \(decoderOnly ? "decoder" : "upscaler") of \(weights.model.shape)")
    }
}

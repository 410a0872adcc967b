import ArgumentParser
import Dataset
import Evaluation
import Foundation
import Model

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model on a split: losses, PSNR and SSIM, beside bilinear and bicubic upscaling.",
        discussion: """
        Decodes each image's z_mean. PSNR is the mean over images of 10 log10(1/MSE); SSIM the mean \
        of scikit-image's structural_similarity (7x7 window, data range 1). The baselines upscale the \
        same 8x8 inputs with TensorFlow's bilinear and bicubic resizes.
        """)

    @OptionGroup var weights: WeightsOption

    @OptionGroup var dataOption: DataOption

    @Option(help: "Which split to score: train or test.")
    var split: Split = .test

    @Option(help: "Score the first N images of the split only. (default: all)")
    var first: Int?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        if let first, first < 1 { throw ValidationError("--first must be at least 1 (got \(first))") }
    }

    func run() throws {
        let weights = try self.weights.load()
        let images = try dataOption.load(split)
        let count = min(first ?? images.count, images.count)
        let scores = Scores(weights, images: images, count: count)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            Console.say(String(decoding: try encoder.encode(scores), as: UTF8.self))
        } else {
            Console.say("""
                \(split.rawValue) split, \(count) images, latent \(weights.model.latentDimension), decoding z_mean
                loss \(format(scores.loss))  (reconstruction \(format(scores.reconstructionLoss)), kl \(format(scores.klLoss)))
                             PSNR dB    SSIM
                model        \(format(scores.psnrDB, width: 7))  \(format(scores.ssim, digits: 4))
                bicubic      \(format(scores.bicubic.psnrDB, width: 7))  \(format(scores.bicubic.ssim, digits: 4))
                bilinear     \(format(scores.bilinear.psnrDB, width: 7))  \(format(scores.bilinear.ssim, digits: 4))
                """)
        }
    }

    private func format(_ value: Double, digits: Int = 3, width: Int = 0) -> String {
        let text = String(format: "%.\(digits)f", value)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

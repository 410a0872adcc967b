import ArgumentParser
import Dataset
import Evaluation
import Foundation
import Model

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model on a split: losses, PSNR, SSIM and digits read right, beside bilinear and bicubic upscaling.",
        discussion: """
        Decodes each image's z_mean. PSNR is the mean over images of 10 log10(1/MSE); SSIM the mean \
        of scikit-image's structural_similarity (7x7 window, data range 1). The baselines upscale the \
        same 8x8 inputs with TensorFlow's bilinear and bicubic resizes. "Read right" is how often a \
        small CNN digit reader (bench/train_digit_reader.py) reads each upscale, and each original \
        (its ceiling), as its label.
        """)

    @OptionGroup var weights: WeightsOption

    @OptionGroup var dataOption: DataOption

    @OptionGroup var readerOption: ReaderOption

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
        let reader = try readerOption.load()
        let images = try dataOption.load(split)
        let count = min(first ?? images.count, images.count)
        let scores = Scores(weights, images: images, count: count, reader: reader)
        if json {
            Console.say(String(decoding: try scores.json(), as: UTF8.self))
        } else {
            func percent(_ share: Double?) -> String { format(100 * (share ?? .nan), digits: 1, width: 9) + "%" }
            func misread(_ list: [Misreading]?) -> String {
                (list ?? []).map { "\($0.digit) as \($0.readAs) (\($0.images))" }.joined(separator: ", ")
            }
            Console.say("""
                \(split.rawValue) split, \(count) images, \(weights.model.shape), decoding z_mean
                loss \(format(scores.loss))  (reconstruction \(format(scores.reconstructionLoss)), kl \(format(scores.klLoss)))
                             PSNR dB    SSIM  read right  most misread
                model        \(format(scores.psnrDB, width: 7))  \(format(scores.ssim, digits: 4))  \(percent(scores.readRight))  \(misread(scores.mostMisread))
                bicubic      \(format(scores.bicubic.psnrDB, width: 7))  \(format(scores.bicubic.ssim, digits: 4))  \(percent(scores.bicubic.readRight))  \(misread(scores.bicubic.mostMisread))
                bilinear     \(format(scores.bilinear.psnrDB, width: 7))  \(format(scores.bilinear.ssim, digits: 4))  \(percent(scores.bilinear.readRight))  \(misread(scores.bilinear.mostMisread))
                originals                   \(percent(scores.originals?.readRight))  \(misread(scores.originals?.mostMisread))
                """)
        }
    }

    private func format(_ value: Double, digits: Int = 3, width: Int = 0) -> String {
        let text = String(format: "%.\(digits)f", value)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

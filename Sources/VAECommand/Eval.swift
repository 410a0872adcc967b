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

/// Everything `vae eval` reports, in the names of its `--json` output.
struct Scores: Encodable {
    let images: Int
    let reconstructionLoss, klLoss, loss, psnrDB, ssim: Double
    let bilinear, bicubic: QualityReport

    enum CodingKeys: String, CodingKey {
        case images, loss, ssim, bilinear, bicubic
        case reconstructionLoss = "reconstruction_loss", klLoss = "kl_loss", psnrDB = "psnr_db"
    }

    /// Scores the first `count` images in chunks, so memory stays small whatever the count.
    init(_ weights: InferenceWeights, images: ImageSet, count: Int) {
        let chunk = 500
        var sums = VAE.LossSums()
        var model = QualityReport(psnrDB: 0, ssim: 0), bilinear = model, bicubic = model
        func accumulate(_ total: inout QualityReport, _ part: QualityReport, _ n: Int) {
            total.psnrDB += part.psnrDB * Double(n) / Double(count)
            total.ssim += part.ssim * Double(n) / Double(count)
        }
        for start in stride(from: 0, to: count, by: chunk) {
            let n = min(chunk, count - start)
            var inputs = [Float](repeating: 0, count: n * VAE.inputPixels)
            var targets = [Float](repeating: 0, count: n * VAE.outputPixels)
            inputs.withUnsafeMutableBufferPointer { x in
                targets.withUnsafeMutableBufferPointer { y in
                    for i in 0..<n {
                        images.lowResolution(start + i, into: x.baseAddress! + i * VAE.inputPixels)
                        images.target(start + i, into: y.baseAddress! + i * VAE.outputPixels)
                    }
                }
            }
            let (predictions, partSums) = Inference.evaluate(weights, inputs: inputs, targets: targets, count: n)
            sums.reconstruction += partSums.reconstruction
            sums.kl += partSums.kl
            accumulate(&model, ImageQuality.report(predictions: predictions, targets: targets), n)
            let baselines = ImageQuality.baselines(lowResolution: inputs, targets: targets)
            accumulate(&bilinear, baselines.bilinear, n)
            accumulate(&bicubic, baselines.bicubic, n)
        }
        self.images = count
        reconstructionLoss = sums.reconstruction / Double(count)
        klLoss = sums.kl / Double(count)
        loss = reconstructionLoss + klLoss
        psnrDB = model.psnrDB
        ssim = model.ssim
        self.bilinear = bilinear
        self.bicubic = bicubic
    }
}

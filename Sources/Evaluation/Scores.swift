import Dataset
import Model

/// A model's losses and upscaling quality on a split, beside the interpolation baselines: what
/// `vae eval` prints and the run report shows, in the names of `vae eval --json`. The loss is
/// the one the weights were trained on (the KL term weighted as in training), as the trainer
/// scores its test images.
public struct Scores: Encodable, Sendable {
    public let images: Int
    public let reconstructionLoss, klLoss, loss, psnrDB, ssim: Double
    public let bilinear, bicubic: QualityReport

    enum CodingKeys: String, CodingKey {
        case images, loss, ssim, bilinear, bicubic
        case reconstructionLoss = "reconstruction_loss", klLoss = "kl_loss", psnrDB = "psnr_db"
    }

    /// Scores the first `count` images in chunks, so memory stays small whatever the count.
    public init(_ weights: InferenceWeights, images: ImageSet, count: Int) {
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
        loss = reconstructionLoss + Double(weights.klWeight) * klLoss
        psnrDB = model.psnrDB
        ssim = model.ssim
        self.bilinear = bilinear
        self.bicubic = bicubic
    }
}

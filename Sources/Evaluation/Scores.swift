import Dataset
import Foundation
import Model

/// A model's losses and upscaling quality on a split, beside the interpolation baselines: what
/// `vae eval` prints and the run report shows, in the names of `vae eval --json`. The loss is
/// the one the weights were trained on (the KL term weighted as in training), as the trainer
/// scores its test images. Given the digit reader, also how often each upscale, and the
/// original, reads as its digit.
public struct Scores: Encodable, Sendable {
    public let images: Int
    public let reconstructionLoss, klLoss, loss, psnrDB, ssim: Double
    public let bilinear, bicubic: QualityReport
    /// The model's upscales as the reader reads them.
    public let readRight: Double?
    public let mostMisread: [Misreading]?
    /// The original 28x28 images as the reader reads them: its ceiling.
    public let originals: Readings?
    /// The first few images whose upscale the reader misreads, in order (not in the JSON).
    public let misreadExamples: [MisreadImage]

    public struct MisreadImage: Sendable, Equatable {
        public let index: Int, digit: Int, readAs: Int
    }
    static let misreadExampleCount = 8

    enum CodingKeys: String, CodingKey {
        case images, loss, ssim, bilinear, bicubic, originals
        case reconstructionLoss = "reconstruction_loss", klLoss = "kl_loss", psnrDB = "psnr_db"
        case readRight = "read_right", mostMisread = "most_misread"
    }

    /// What `vae eval --json` prints and `RUN/outputs/scores.json` holds: keys sorted.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Scores the first `count` images in chunks, so memory stays small whatever the count; the
    /// chunks on every core, then added up in order, so the figures are those of one by one.
    public init(_ weights: InferenceWeights, images: ImageSet, count: Int, reader: DigitReader?) {
        let chunk = 500, chunks = (count + chunk - 1) / chunk
        let parts = [Part](unsafeUninitializedCapacity: chunks) { buffer, initialized in
            nonisolated(unsafe) let parts = buffer
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let range = (c * chunk)..<min(c * chunk + chunk, count)
                (parts.baseAddress! + c).initialize(to: Part(weights, images: images, range: range, reader: reader))
            }
            initialized = chunks
        }
        var sums = VAE.LossSums()
        var model = QualityReport(psnrDB: 0, ssim: 0), bilinear = model, bicubic = model
        var modelReads = ReadingTally(), bilinearReads = ReadingTally(), bicubicReads = ReadingTally()
        var originalReads = ReadingTally()
        var examples: [MisreadImage] = []
        func accumulate(_ total: inout QualityReport, _ part: QualityReport, _ n: Int) {
            total.psnrDB += part.psnrDB * Double(n) / Double(count)
            total.ssim += part.ssim * Double(n) / Double(count)
        }
        for part in parts {
            let n = part.range.count
            sums.reconstruction += part.sums.reconstruction
            sums.kl += part.sums.kl
            accumulate(&model, part.model, n)
            accumulate(&bilinear, part.bilinear, n)
            accumulate(&bicubic, part.bicubic, n)
            guard let reads = part.reads else { continue }
            let labels = images.labels[part.range]
            modelReads.add(read: reads.model, labels: labels)
            bilinearReads.add(read: reads.bilinear, labels: labels)
            bicubicReads.add(read: reads.bicubic, labels: labels)
            originalReads.add(read: reads.original, labels: labels)
            for (i, (digit, label)) in zip(reads.model, labels).enumerated()
            where digit != label && examples.count < Self.misreadExampleCount {
                examples.append(MisreadImage(index: part.range.lowerBound + i, digit: Int(label), readAs: Int(digit)))
            }
        }
        self.images = count
        reconstructionLoss = sums.reconstruction / Double(count)
        klLoss = sums.kl / Double(count)
        loss = reconstructionLoss + Double(weights.klWeight) * klLoss
        psnrDB = model.psnrDB
        ssim = model.ssim
        let modelReading = reader.map { _ in modelReads.readings }
        readRight = modelReading?.readRight
        mostMisread = modelReading?.mostMisread
        originals = reader.map { _ in originalReads.readings }
        self.bilinear = QualityReport(psnrDB: bilinear.psnrDB, ssim: bilinear.ssim, reading: reader.map { _ in bilinearReads.readings })
        self.bicubic = QualityReport(psnrDB: bicubic.psnrDB, ssim: bicubic.ssim, reading: reader.map { _ in bicubicReads.readings })
        misreadExamples = examples
    }

    /// One chunk's figures: its loss sums, the qualities of its upscales, and what the reader reads.
    private struct Part {
        let range: Range<Int>
        let sums: VAE.LossSums
        let model, bilinear, bicubic: QualityReport
        let reads: (model: [UInt8], bilinear: [UInt8], bicubic: [UInt8], original: [UInt8])?

        init(_ weights: InferenceWeights, images: ImageSet, range: Range<Int>, reader: DigitReader?) {
            let n = range.count
            var inputs = [Float](repeating: 0, count: n * VAE.inputPixels)
            var targets = [Float](repeating: 0, count: n * VAE.outputPixels)
            inputs.withUnsafeMutableBufferPointer { x in
                targets.withUnsafeMutableBufferPointer { y in
                    for (i, image) in range.enumerated() {
                        images.lowResolution(image, into: x.baseAddress! + i * VAE.inputPixels)
                        images.target(image, into: y.baseAddress! + i * VAE.outputPixels)
                    }
                }
            }
            let predictions: [Float]
            self.range = range
            (predictions, sums) = Inference.evaluate(weights, inputs: inputs, targets: targets, count: n)
            model = ImageQuality.report(predictions: predictions, targets: targets)
            let upscaled = ImageQuality.interpolations(lowResolution: inputs)
            bilinear = ImageQuality.report(predictions: upscaled.bilinear, targets: targets)
            bicubic = ImageQuality.report(predictions: upscaled.bicubic, targets: targets)
            reads = reader.map { reader in
                (reader.read(predictions, count: n), reader.read(upscaled.bilinear, count: n),
                 reader.read(upscaled.bicubic, count: n), reader.read(targets, count: n))
            }
        }
    }
}

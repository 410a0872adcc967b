import Dataset
import Evaluation
import Foundation
import Testing
import TestSupport

/// Mean PSNR and SSIM over the 28x28 image pairs, image by image with `ImageQuality`.
private func meanOfPerImageFigures(_ images: [Float], _ targets: [Float]) -> QualityReport {
    let pixels = 28 * 28, count = targets.count / pixels
    var psnr = 0.0, ssim = 0.0
    for index in 0..<count {
        let image = Array(images[(index * pixels)..<((index + 1) * pixels)])
        let target = Array(targets[(index * pixels)..<((index + 1) * pixels)])
        psnr += ImageQuality.psnr(image, target, count: pixels)
        ssim += ImageQuality.ssim(image, target, height: 28, width: 28)
    }
    return QualityReport(psnrDB: psnr / Double(count), ssim: ssim / Double(count))
}

@Test func reportIsTheMeanOfPerImageFigures() throws {
    var generator = SplitMix64(state: 99)
    let targets = (0..<(5 * 784)).map { _ in Float.random(in: 0...1, using: &generator) }
    let predictions = targets.map { min(max($0 + Float.random(in: -0.3...0.3, using: &generator), 0), 1) }
    let report = ImageQuality.report(predictions: predictions, targets: targets)
    let expected = meanOfPerImageFigures(predictions, targets)
    #expect(abs(report.psnrDB - expected.psnrDB) < 1e-12)
    #expect(abs(report.ssim - expected.ssim) < 1e-12)
}

@Test func baselinesMeasureTheUpscaledInputs() throws {
    let set = try ImageSet.load(.test, from: bundledData)
    let (targets, inputs) = targetsAndInputs(of: set, count: 25)
    let baselines = ImageQuality.baselines(lowResolution: inputs, targets: targets)
    let bilinear = meanOfPerImageFigures(upscaled(inputs, bicubic: false), targets)
    let bicubic = meanOfPerImageFigures(upscaled(inputs, bicubic: true), targets)
    #expect(abs(baselines.bilinear.psnrDB - bilinear.psnrDB) < 1e-12)
    #expect(abs(baselines.bilinear.ssim - bilinear.ssim) < 1e-12)
    #expect(abs(baselines.bicubic.psnrDB - bicubic.psnrDB) < 1e-12)
    #expect(abs(baselines.bicubic.ssim - bicubic.ssim) < 1e-12)
}

@Test func reportEncodesWithTheEvalCommandsNames() throws {
    let report = QualityReport(psnrDB: 15.0625, ssim: 0.5)
    let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Double]
    #expect(json == ["psnr_db": 15.0625, "ssim": 0.5])
    #expect(try JSONDecoder().decode(QualityReport.self, from: JSONEncoder().encode(report)) == report)
}

/// The figures TensorFlow / scikit-image give for interpolating the 8x8 inputs of the 10,000
/// MNIST test images back to 28x28 (`tf.image.resize`, PSNR and SSIM with data_range 1 on the
/// bicubic output clamped to [0, 1]), to the precision they were printed with.
@Test func baselinesReproduceTensorFlowOnTheMNISTTestSet() throws {
    let set = try ImageSet.load(.test, from: bundledData)
    #expect(set.count == 10_000)
    let (targets, inputs) = targetsAndInputs(of: set)
    let clock = ContinuousClock()
    let start = clock.now
    let baselines = ImageQuality.baselines(lowResolution: inputs, targets: targets)
    let elapsed = clock.now - start
    print("""
        MNIST test baselines over \(set.count) images in \(elapsed): \
        bilinear \(baselines.bilinear.psnrDB) dB, SSIM \(baselines.bilinear.ssim); \
        bicubic \(baselines.bicubic.psnrDB) dB, SSIM \(baselines.bicubic.ssim)
        """)
    #expect(abs(baselines.bilinear.psnrDB - 14.80) <= 0.006)
    #expect(abs(baselines.bilinear.ssim - 0.561) <= 0.0006)
    #expect(abs(baselines.bicubic.psnrDB - 15.06) <= 0.006)
    #expect(abs(baselines.bicubic.ssim - 0.610) <= 0.0006)
}

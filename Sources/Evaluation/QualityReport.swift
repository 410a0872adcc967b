import Dataset

/// Mean image quality over a set of images.
public struct QualityReport: Codable, Equatable, Sendable {
    /// Mean over images of `ImageQuality.psnr`, in dB. +infinity as soon as one image is
    /// reproduced exactly (JSONEncoder refuses that unless told how to write it).
    public var psnrDB: Double
    /// Mean over images of `ImageQuality.ssim`.
    public var ssim: Double

    public init(psnrDB: Double, ssim: Double) {
        self.psnrDB = psnrDB
        self.ssim = ssim
    }

    /// The names `vae eval --json` uses.
    enum CodingKeys: String, CodingKey {
        case psnrDB = "psnr_db"
        case ssim
    }
}

extension ImageQuality {
    /// Mean PSNR and SSIM of `predictions` against `targets`: equally many `height`x`width`
    /// images, each flat and row-major, one after another.
    public static func report(predictions: [Float], targets: [Float],
                              height: Int = ImageSet.imageSide, width: Int = ImageSet.imageSide) -> QualityReport {
        let pixels = height * width
        precondition(pixels > 0 && targets.count % pixels == 0 && !targets.isEmpty,
                     "\(targets.count) target values do not make a whole number of \(height)x\(width) images")
        precondition(predictions.count == targets.count,
                     "\(predictions.count) predicted values for \(targets.count) target values")
        var mean = MeanQuality()
        predictions.withUnsafeBufferPointer { predicted in
            targets.withUnsafeBufferPointer { expected in
                for start in stride(from: 0, to: expected.count, by: pixels) {
                    mean.add(predicted.baseAddress! + start, expected.baseAddress! + start, height: height, width: width)
                }
            }
        }
        return mean.report
    }

    /// The quality that plain interpolation reaches on the same task: every 8x8 input of
    /// `lowResolution` upscaled to 28x28 with TensorFlow's bilinear and bicubic resizes and
    /// compared with its 28x28 target.
    ///
    /// Bicubic output overshoots [0, 1] near strokes; it is clamped to [0, 1] before measuring,
    /// as an image would be (the TensorFlow figures, 15.06 dB and SSIM 0.610 on the MNIST test
    /// set, are of the clamped images; unclamped they are 15.00 dB and 0.586).
    public static func baselines(lowResolution: [Float], targets: [Float])
        -> (bilinear: QualityReport, bicubic: QualityReport) {
        let side = ImageSet.imageSide, lowSide = ImageSet.lowResolutionSide
        let pixels = side * side, lowPixels = lowSide * lowSide
        let count = targets.count / pixels
        precondition(count > 0 && targets.count == count * pixels,
                     "\(targets.count) target values do not make a whole number of \(side)x\(side) images")
        precondition(lowResolution.count == count * lowPixels,
                     "\(lowResolution.count) low-resolution values for \(count) images of \(lowSide)x\(lowSide)")
        var bilinear = MeanQuality(), bicubic = MeanQuality()
        lowResolution.withUnsafeBufferPointer { inputs in
            targets.withUnsafeBufferPointer { expected in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: pixels) { upscaled in
                    let image = upscaled.baseAddress!
                    for index in 0..<count {
                        let input = inputs.baseAddress! + index * lowPixels
                        let target = expected.baseAddress! + index * pixels
                        Resize.bilinear(input, height: lowSide, width: lowSide, into: image, outHeight: side, outWidth: side)
                        bilinear.add(image, target, height: side, width: side)
                        Resize.bicubic(input, height: lowSide, width: lowSide, into: image, outHeight: side, outWidth: side)
                        for offset in 0..<pixels {
                            image[offset] = min(max(image[offset], 0), 1)
                        }
                        bicubic.add(image, target, height: side, width: side)
                    }
                }
            }
        }
        return (bilinear.report, bicubic.report)
    }
}

/// Running sums of per-image PSNR and SSIM.
private struct MeanQuality {
    var psnr = 0.0, ssim = 0.0, count = 0

    mutating func add(_ image: UnsafePointer<Float>, _ target: UnsafePointer<Float>, height: Int, width: Int) {
        psnr += ImageQuality.psnr(image, target, count: height * width)
        ssim += ImageQuality.ssim(image, target, height: height, width: width)
        count += 1
    }

    var report: QualityReport {
        QualityReport(psnrDB: psnr / Double(count), ssim: ssim / Double(count))
    }
}

import Dataset

/// Mean image quality over a set of images.
public struct QualityReport: Codable, Equatable, Sendable {
    /// Mean over images of `ImageQuality.psnr`, in dB. +infinity as soon as one image is
    /// reproduced exactly (JSONEncoder refuses that unless told how to write it).
    public var psnrDB: Double
    /// Mean over images of `ImageQuality.ssim`.
    public var ssim: Double
    /// How the digit reader reads these images, when it was asked.
    public var readRight: Double?
    public var mostMisread: [Misreading]?

    public init(psnrDB: Double, ssim: Double, reading: Readings? = nil) {
        self.psnrDB = psnrDB
        self.ssim = ssim
        readRight = reading?.readRight
        mostMisread = reading?.mostMisread
    }

    /// The names `vae eval --json` uses.
    enum CodingKeys: String, CodingKey {
        case psnrDB = "psnr_db"
        case ssim
        case readRight = "read_right", mostMisread = "most_misread"
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
    /// `lowResolution` upscaled to 28x28 (see `interpolations`) and compared with its target.
    public static func baselines(lowResolution: [Float], targets: [Float])
        -> (bilinear: QualityReport, bicubic: QualityReport) {
        let upscaled = interpolations(lowResolution: lowResolution)
        precondition(upscaled.bilinear.count == targets.count,
                     "\(lowResolution.count) low-resolution values for \(targets.count) target values")
        return (report(predictions: upscaled.bilinear, targets: targets), report(predictions: upscaled.bicubic, targets: targets))
    }

    /// Every 8x8 input of `lowResolution` upscaled to 28x28 with TensorFlow's bilinear and
    /// bicubic resizes.
    ///
    /// Bicubic output overshoots [0, 1] near strokes; it is clamped to [0, 1], as an image
    /// would be (the TensorFlow figures, 15.06 dB and SSIM 0.610 on the MNIST test set, are of
    /// the clamped images; unclamped they are 15.00 dB and 0.586).
    public static func interpolations(lowResolution: [Float]) -> (bilinear: [Float], bicubic: [Float]) {
        let side = ImageSet.imageSide, lowSide = ImageSet.lowResolutionSide
        let pixels = side * side, lowPixels = lowSide * lowSide
        let count = lowResolution.count / lowPixels
        precondition(count > 0 && lowResolution.count == count * lowPixels,
                     "\(lowResolution.count) values do not make a whole number of \(lowSide)x\(lowSide) images")
        var bilinear = [Float](repeating: 0, count: count * pixels), bicubic = bilinear
        lowResolution.withUnsafeBufferPointer { inputs in
            bilinear.withUnsafeMutableBufferPointer { linear in
                bicubic.withUnsafeMutableBufferPointer { cubic in
                    for index in 0..<count {
                        let input = inputs.baseAddress! + index * lowPixels
                        Resize.bilinear(input, height: lowSide, width: lowSide,
                                        into: linear.baseAddress! + index * pixels, outHeight: side, outWidth: side)
                        Resize.bicubic(input, height: lowSide, width: lowSide,
                                       into: cubic.baseAddress! + index * pixels, outHeight: side, outWidth: side)
                    }
                    for offset in cubic.indices { cubic[offset] = min(max(cubic[offset], 0), 1) }
                }
            }
        }
        return (bilinear, bicubic)
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

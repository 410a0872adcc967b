import Foundation

/// Full-reference image quality as scikit-image measures it, for grey images with values in
/// [0, 1] (data range 1). Computed in Double whatever the input precision.
public enum ImageQuality {
    /// Side of SSIM's uniform window (skimage's default `win_size`).
    private static let ssimWindow = 7

    /// Peak signal-to-noise ratio in dB, `10 * log10(1 / MSE)`: skimage's
    /// `peak_signal_noise_ratio(a, b, data_range=1)`. Identical images (MSE = 0) give +infinity,
    /// as skimage does.
    public static func psnr(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        precondition(count > 0, "PSNR needs at least one pixel")
        var squaredError = 0.0
        for index in 0..<count {
            let difference = Double(a[index]) - Double(b[index])
            squaredError += difference * difference
        }
        return 10 * log10(1 / (squaredError / Double(count)))
    }

    /// Structural similarity: skimage's `structural_similarity(a, b, data_range=1)` with its
    /// defaults (7x7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance), i.e. the SSIM map
    /// averaged over the image less a 3-pixel border. Images must be at least 7x7 (skimage refuses
    /// smaller ones).
    ///
    /// skimage filters with `scipy.ndimage.uniform_filter` in 'reflect' mode and then crops the
    /// border, and every window centred inside the crop lies wholly within the image, so the
    /// reflected pixels never reach the mean: only those windows are computed here.
    public static func ssim(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, height: Int, width: Int) -> Double {
        let window = ssimWindow
        precondition(height >= window && width >= window,
                     "SSIM needs images of at least \(window)x\(window), got \(height)x\(width)")
        let windowRows = height - window + 1, windowColumns = width - window + 1
        return withUnsafeTemporaryAllocation(of: WindowSums.self, capacity: height * windowColumns) { rowSums in
            // Separable box sums: along each row first, then down the columns of those sums.
            for row in 0..<height {
                let rowA = a + row * width, rowB = b + row * width
                for column in 0..<windowColumns {
                    var sums = WindowSums()
                    for offset in column..<(column + window) {
                        sums.add(Double(rowA[offset]), Double(rowB[offset]))
                    }
                    rowSums.initializeElement(at: row * windowColumns + column, to: sums)
                }
            }
            var total = 0.0
            for row in 0..<windowRows {
                for column in 0..<windowColumns {
                    var sums = WindowSums()
                    for offset in row..<(row + window) {
                        sums.add(rowSums[offset * windowColumns + column])
                    }
                    total += sums.similarity(pixels: window * window)
                }
            }
            return total / Double(windowRows * windowColumns)
        }
    }
}

/// Sums over one window of a, b, a², b² and ab.
private struct WindowSums {
    var a = 0.0, b = 0.0, aa = 0.0, bb = 0.0, ab = 0.0

    @inline(__always)
    mutating func add(_ x: Double, _ y: Double) {
        a += x
        b += y
        aa += x * x
        bb += y * y
        ab += x * y
    }

    @inline(__always)
    mutating func add(_ other: WindowSums) {
        a += other.a
        b += other.b
        aa += other.aa
        bb += other.bb
        ab += other.ab
    }

    /// The SSIM of the window, written as skimage writes it.
    @inline(__always)
    func similarity(pixels: Int) -> Double {
        let n = Double(pixels)
        let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
        // Sample (N - 1) rather than population statistics, skimage's `use_sample_covariance`.
        let sampleCorrection = n / (n - 1)
        let meanA = a / n, meanB = b / n
        let varianceA = sampleCorrection * (aa / n - meanA * meanA)
        let varianceB = sampleCorrection * (bb / n - meanB * meanB)
        let covariance = sampleCorrection * (ab / n - meanA * meanB)
        return ((2 * meanA * meanB + c1) * (2 * covariance + c2))
            / ((meanA * meanA + meanB * meanB + c1) * (varianceA + varianceB + c2))
    }
}

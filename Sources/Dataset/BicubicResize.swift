extension Resize {
    /// `tf.image.resize(method: bicubic, antialias: false)`, i.e. TF's ResizeBicubic with
    /// half-pixel centres, computed in Float in the same order as TF's kernel: Keys' cubic
    /// (a = -0.5) at the sub-pixel offset rounded to 1/1024 (TF reads its weights from a table),
    /// each output value interpolated down the four source columns first, then across them.
    ///
    /// Taps that fall outside the image get weight zero and the remaining weights are scaled to
    /// sum to one (TF's half-pixel path; its legacy path repeated the edge pixel instead). The
    /// output is not clamped: near sharp edges it overshoots the input range, as TF's does.
    public static func bicubic(_ src: UnsafePointer<Float>, height: Int, width: Int,
                               into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int) {
        precondition(height > 0 && width > 0 && outHeight > 0 && outWidth > 0, "image sizes must be positive")
        let rowScale = Float(height) / Float(outHeight)
        let columnScale = Float(width) / Float(outWidth)
        withUnsafeTemporaryAllocation(of: CubicTaps.self, capacity: outWidth) { columns in
            for column in 0..<outWidth {
                columns.initializeElement(at: column, to: CubicTaps(column, scale: columnScale, size: width))
            }
            for row in 0..<outHeight {
                let y = CubicTaps(row, scale: rowScale, size: height)
                let row0 = src + y.index0 * width, row1 = src + y.index1 * width
                let row2 = src + y.index2 * width, row3 = src + y.index3 * width
                for column in 0..<outWidth {
                    let x = columns[column]
                    @inline(__always) func down(_ sourceColumn: Int) -> Float {
                        y.combine(row0[sourceColumn], row1[sourceColumn], row2[sourceColumn], row3[sourceColumn])
                    }
                    dst[row * outWidth + column] = x.combine(down(x.index0), down(x.index1),
                                                             down(x.index2), down(x.index3))
                }
            }
        }
    }
}

/// The four source pixels (and their weights) that output index `i` reads along one axis:
/// `floor(s) - 1 ... floor(s) + 2` for the source coordinate `s`, indices clamped into the image.
private struct CubicTaps {
    let index0: Int, index1: Int, index2: Int, index3: Int
    let weight0: Float, weight1: Float, weight2: Float, weight3: Float

    @inline(__always)
    init(_ index: Int, scale: Float, size: Int) {
        let coordinate = (Float(index) + 0.5) * scale - 0.5
        let base = coordinate.rounded(.down)
        let first = Int(base)
        // TF's table has 1025 entries per kernel branch and is indexed with lrintf (ties to even).
        let step = Int(((coordinate - base) * Float(cubicTableSteps)).rounded(.toNearestOrEven))
        let taps = (first - 1, first, first + 1, first + 2)
        index0 = min(max(taps.0, 0), size - 1)
        index1 = min(max(taps.1, 0), size - 1)
        index2 = min(max(taps.2, 0), size - 1)
        index3 = min(max(taps.3, 0), size - 1)
        let w0: Float = index0 == taps.0 ? keysOuter(step) : 0
        let w1: Float = index1 == taps.1 ? keysInner(step) : 0
        let w2: Float = index2 == taps.2 ? keysInner(cubicTableSteps - step) : 0
        let w3: Float = index3 == taps.3 ? keysOuter(cubicTableSteps - step) : 0
        // At least one of the two middle taps is inside with a weight of 1/2 or more, so the sum
        // never comes near the zero that TF guards against.
        let reciprocal = 1 / (w0 + w1 + w2 + w3)
        weight0 = w0 * reciprocal
        weight1 = w1 * reciprocal
        weight2 = w2 * reciprocal
        weight3 = w3 * reciprocal
    }

    /// TF's `Interpolate1D`: the products summed left to right in Float.
    @inline(__always)
    func combine(_ v0: Float, _ v1: Float, _ v2: Float, _ v3: Float) -> Float {
        v0 * weight0 + v1 * weight1 + v2 * weight2 + v3 * weight3
    }
}

/// Sub-pixel resolution of TF's bicubic weight table.
private let cubicTableSteps = 1024

/// Keys' kernel (a = -0.5) at distance `step / 1024` (in [0, 1]), evaluated in Double and then
/// rounded to Float, as TF fills its table.
@inline(__always)
private func keysInner(_ step: Int) -> Float {
    let a = -0.5, x = Double(step) / Double(cubicTableSteps)
    return Float(((a + 2) * x - (a + 3)) * x * x + 1)
}

/// Keys' kernel at distance `1 + step / 1024` (in [1, 2]).
@inline(__always)
private func keysOuter(_ step: Int) -> Float {
    let a = -0.5, x = Double(step) / Double(cubicTableSteps) + 1
    return Float(((a * x - 5 * a) * x + 8 * a) * x - 4 * a)
}

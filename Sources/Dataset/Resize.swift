/// Image resizing that reproduces TensorFlow / Keras, so that inputs made here are the inputs the
/// original model was trained on. Single-channel, row-major images; no allocation.
public enum Resize {
    /// `tf.image.resize(method: bilinear, antialias: false)`, i.e. TF's ResizeBilinear with
    /// half-pixel centres, computed in Float in the same order as TF's kernel.
    public static func bilinear(_ src: UnsafePointer<Float>, height: Int, width: Int,
                                into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int) {
        interpolate(height: height, width: width, rowStride: width,
                    into: dst, outHeight: outHeight, outWidth: outWidth) { src[$0] }
    }

    /// Keras `smart_resize(..., interpolation="bilinear")`: the largest centred crop with the
    /// target's aspect ratio, then `bilinear`. Lets images of any shape become network inputs
    /// without being stretched.
    public static func smartResize(_ src: UnsafePointer<Float>, height: Int, width: Int,
                                   into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int) {
        let crop = smartCrop(height: height, width: width, outHeight: outHeight, outWidth: outWidth)
        let origin = src + crop.top * width + crop.left
        interpolate(height: crop.height, width: crop.width, rowStride: width,
                    into: dst, outHeight: outHeight, outWidth: outWidth) { origin[$0] }
    }

    /// The part of the source image `smartResize` keeps.
    public struct CropBox: Equatable, Sendable {
        public let top: Int, left: Int, height: Int, width: Int
        public init(top: Int, left: Int, height: Int, width: Int) {
            self.top = top
            self.left = left
            self.height = height
            self.width = width
        }
    }

    /// Keras's crop arithmetic, in Double as Python's `float` does it.
    public static func smartCrop(height: Int, width: Int, outHeight: Int, outWidth: Int) -> CropBox {
        precondition(height > 0 && width > 0 && outHeight > 0 && outWidth > 0, "image sizes must be positive")
        let cropHeight = max(min(height, Int(Double(width * outHeight) / Double(outWidth))), 1)
        let cropWidth = max(min(width, Int(Double(height * outWidth) / Double(outHeight))), 1)
        return CropBox(top: (height - cropHeight) / 2, left: (width - cropWidth) / 2,
                       height: cropHeight, width: cropWidth)
    }

    /// The resampling loop, generic over how a source pixel is fetched (by offset from the
    /// top-left corner) so that byte images are converted on the fly instead of into a buffer.
    @inline(__always)
    static func interpolate(height: Int, width: Int, rowStride: Int,
                            into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int,
                            pixel: (Int) -> Float) {
        precondition(height > 0 && width > 0 && outHeight > 0 && outWidth > 0, "image sizes must be positive")
        // TF divides in float: scale = in / out.
        let rowScale = Float(height) / Float(outHeight)
        let columnScale = Float(width) / Float(outWidth)
        for row in 0..<outHeight {
            let y = SourcePosition(row, scale: rowScale, size: height)
            let upperRow = y.lower * rowStride
            let lowerRow = y.upper * rowStride
            for column in 0..<outWidth {
                let x = SourcePosition(column, scale: columnScale, size: width)
                let topLeft = pixel(upperRow + x.lower), topRight = pixel(upperRow + x.upper)
                let bottomLeft = pixel(lowerRow + x.lower), bottomRight = pixel(lowerRow + x.upper)
                let top = topLeft + (topRight - topLeft) * x.fraction
                let bottom = bottomLeft + (bottomRight - bottomLeft) * x.fraction
                dst[row * outWidth + column] = top + (bottom - top) * y.fraction
            }
        }
    }
}

/// Where output index `i` samples the source along one axis: the two neighbouring pixels and
/// the weight of the second.
private struct SourcePosition {
    let lower: Int
    let upper: Int
    let fraction: Float

    @inline(__always)
    init(_ index: Int, scale: Float, size: Int) {
        // Half-pixel centres. Before the first pixel centre TF uses the first pixel alone, which
        // clamping the coordinate at 0 reproduces.
        let coordinate = max((Float(index) + 0.5) * scale - 0.5, 0)
        let base = coordinate.rounded(.down)
        lower = Int(base)
        upper = min(lower + 1, size - 1)
        fraction = coordinate - base
    }
}

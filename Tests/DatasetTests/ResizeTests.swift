import Dataset
import Testing

/// Bilinear resize with half-pixel centres written another way: in Double, as a weight matrix per
/// axis, out = Wy * image * Wx^T.
private func referenceResize(_ image: [Double], height: Int, width: Int, outHeight: Int, outWidth: Int) -> [Double] {
    func weights(from size: Int, to outSize: Int) -> [[Double]] {
        (0..<outSize).map { index in
            var row = [Double](repeating: 0, count: size)
            let position = min(max((Double(index) + 0.5) * Double(size) / Double(outSize) - 0.5, 0), Double(size - 1))
            let left = Int(position.rounded(.down))
            let right = min(left + 1, size - 1)
            row[left] += 1 - (position - Double(left))
            row[right] += position - Double(left)
            return row
        }
    }
    let rows = weights(from: height, to: outHeight), columns = weights(from: width, to: outWidth)
    return (0..<outHeight).flatMap { i in
        (0..<outWidth).map { j in
            var sum = 0.0
            for y in 0..<height where rows[i][y] != 0 {
                for x in 0..<width where columns[j][x] != 0 {
                    sum += rows[i][y] * columns[j][x] * image[y * width + x]
                }
            }
            return sum
        }
    }
}

private func resized(_ image: [Float], height: Int, width: Int, outHeight: Int, outWidth: Int,
                     smart: Bool = false) -> [Float] {
    var out = [Float](repeating: .nan, count: outHeight * outWidth)
    image.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { target in
            if smart {
                Resize.smartResize(source.baseAddress!, height: height, width: width,
                                   into: target.baseAddress!, outHeight: outHeight, outWidth: outWidth)
            } else {
                Resize.bilinear(source.baseAddress!, height: height, width: width,
                                into: target.baseAddress!, outHeight: outHeight, outWidth: outWidth)
            }
        }
    }
    return out
}

@Test func bilinearAgreesWithDoubleReferenceOnRandomSizes() {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<200 {
        let height = Int.random(in: 1...40, using: &generator), width = Int.random(in: 1...40, using: &generator)
        let outHeight = Int.random(in: 1...40, using: &generator), outWidth = Int.random(in: 1...40, using: &generator)
        let image = (0..<(height * width)).map { _ in Float.random(in: 0...1, using: &generator) }
        let ours = resized(image, height: height, width: width, outHeight: outHeight, outWidth: outWidth)
        let reference = referenceResize(image.map(Double.init), height: height, width: width,
                                        outHeight: outHeight, outWidth: outWidth)
        let worst = zip(ours, reference).map { abs(Double($0) - $1) }.max() ?? 0
        // TF (and so Resize) computes source coordinates in Float: they are off by up to a few
        // ulps of the coordinate, about 40 * 6e-8 here, and each pixel difference is at most 1.
        #expect(worst < 1e-5, "\(height)x\(width) -> \(outHeight)x\(outWidth): off by \(worst)")
    }
}

@Test func bilinearIsIdentityForEqualSizes() {
    for (height, width) in [(1, 1), (28, 28), (5, 17)] {
        let image = (0..<(height * width)).map { _ in Float.random(in: -3...3) }
        #expect(resized(image, height: height, width: width, outHeight: height, outWidth: width) == image)
    }
}

/// On a horizontal ramp (pixel = column) the output is the sampled coordinate itself:
/// 3.5 * j + 1.25 for 28 -> 8 (TensorFlow's half-pixel centres).
@Test func bilinearSamplesHalfPixelCentres() {
    let ramp = (0..<(28 * 28)).map { Float($0 % 28) }
    let out = resized(ramp, height: 28, width: 28, outHeight: 8, outWidth: 8)
    for row in 0..<8 {
        #expect(Array(out[(row * 8)..<(row * 8 + 8)]) == (0..<8).map { 3.5 * Float($0) + 1.25 })
    }
    // Upscaling: coordinates before the first centre clamp to it, past the last to the last.
    let edge = resized([0, 10], height: 1, width: 2, outHeight: 1, outWidth: 8)
    #expect(edge == [0, 0, 1.25, 3.75, 6.25, 8.75, 10, 10])
}

@Test func smartCropFollowsKeras() {
    // Keras's docstring example: (340, 500) to (200, 200) keeps a centred 340x340 crop.
    #expect(Resize.smartCrop(height: 340, width: 500, outHeight: 200, outWidth: 200)
            == Resize.CropBox(top: 0, left: 80, height: 340, width: 340))
    #expect(Resize.smartCrop(height: 28, width: 28, outHeight: 8, outWidth: 8)
            == Resize.CropBox(top: 0, left: 0, height: 28, width: 28))
    #expect(Resize.smartCrop(height: 101, width: 30, outHeight: 8, outWidth: 8)
            == Resize.CropBox(top: 35, left: 0, height: 30, width: 30))
    #expect(Resize.smartCrop(height: 3, width: 1000, outHeight: 8, outWidth: 2)
            == Resize.CropBox(top: 0, left: 499, height: 3, width: 1))
}

@Test func smartResizeResizesTheCentredCrop() {
    let height = 20, width = 45
    let image = (0..<(height * width)).map { _ in Float.random(in: 0...1) }
    let crop = Resize.smartCrop(height: height, width: width, outHeight: 8, outWidth: 8)
    let cropped = (crop.top..<(crop.top + crop.height)).flatMap { y in
        image[(y * width + crop.left)..<(y * width + crop.left + crop.width)]
    }
    #expect(resized(image, height: height, width: width, outHeight: 8, outWidth: 8, smart: true)
            == resized(cropped, height: crop.height, width: crop.width, outHeight: 8, outWidth: 8))
}

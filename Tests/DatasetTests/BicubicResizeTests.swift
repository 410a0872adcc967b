import Dataset
import Testing

private func bicubic(_ image: [Float], height: Int, width: Int, outHeight: Int, outWidth: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: outHeight * outWidth)
    image.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { target in
            Resize.bicubic(source.baseAddress!, height: height, width: width,
                           into: target.baseAddress!, outHeight: outHeight, outWidth: outWidth)
        }
    }
    return out
}

/// Keys' cubic convolution kernel with a = -0.5, in its textbook piecewise form.
private func keys(_ distance: Double) -> Double {
    let t = abs(distance)
    if t <= 1 { return 1.5 * t * t * t - 2.5 * t * t + 1 }
    if t < 2 { return -0.5 * t * t * t + 2.5 * t * t - 4 * t + 2 }
    return 0
}

/// The taps and weights of output index `index` along one axis, in Double: the four pixels
/// around the half-pixel-centre coordinate that lie inside the image, weighted by `keys` and
/// normalised to sum to 1. As TF does, the scale and coordinate are Float and the position
/// between pixels is rounded to 1/1024 (TF reads the kernel from a 1024-step table).
private func referenceTaps(_ index: Int, size: Int, outSize: Int) -> [(pixel: Int, weight: Double)] {
    let coordinate = Double((Float(index) + 0.5) * (Float(size) / Float(outSize)) - 0.5)
    let left = coordinate.rounded(.down)
    let position = left + ((coordinate - left) * 1024).rounded(.toNearestOrEven) / 1024
    let taps = (Int(left) - 1...Int(left) + 2).filter { (0..<size).contains($0) }
        .map { (pixel: $0, weight: keys(position - Double($0))) }
    let total = taps.reduce(0) { $0 + $1.weight }
    return taps.map { (pixel: $0.pixel, weight: $0.weight / total) }
}

/// The direct sum over the 4x4 neighbourhood of every output pixel.
private func referenceBicubic(_ image: [Float], height: Int, width: Int, outHeight: Int, outWidth: Int) -> [Double] {
    (0..<outHeight).flatMap { row in
        (0..<outWidth).map { column in
            var sum = 0.0
            for y in referenceTaps(row, size: height, outSize: outHeight) {
                for x in referenceTaps(column, size: width, outSize: outWidth) {
                    sum += y.weight * x.weight * Double(image[y.pixel * width + x.pixel])
                }
            }
            return sum
        }
    }
}

/// `ResizeImagesV2Test.testResizeUp` in TensorFlow's image_ops_test.py: its expected output for
/// `resize_images_v2(method=BICUBIC)` of a 3x2 image to 6x4, checked there to 1e-4.
@Test func bicubicMatchesTensorFlowsOwnTestCase() {
    let image: [Float] = [64, 32, 32, 64, 50, 100]
    let expected: [Float] = [
        70.1453, 59.0252, 36.9748, 25.8547, 59.3195, 53.3386, 41.4789, 35.4981,
        36.383, 41.285, 51.0051, 55.9071, 30.2232, 42.151, 65.8032, 77.731,
        41.6492, 55.823, 83.9288, 98.1026, 47.0363, 62.2744, 92.4903, 107.7284,
    ]
    let out = bicubic(image, height: 3, width: 2, outHeight: 6, outWidth: 4)
    let worst = zip(out, expected).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst < 1e-4, "off by \(worst): \(out)")
}

@Test func bicubicAgreesWithDoubleReferenceOnRandomSizes() {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<200 {
        let height = Int.random(in: 1...40, using: &generator), width = Int.random(in: 1...40, using: &generator)
        let outHeight = Int.random(in: 1...40, using: &generator), outWidth = Int.random(in: 1...40, using: &generator)
        let image = (0..<(height * width)).map { _ in Float.random(in: 0...1, using: &generator) }
        let ours = bicubic(image, height: height, width: width, outHeight: outHeight, outWidth: outWidth)
        let reference = referenceBicubic(image, height: height, width: width, outHeight: outHeight, outWidth: outWidth)
        let worst = zip(ours, reference).map { abs(Double($0) - $1) }.max() ?? .infinity
        // Float weights and sums against Double ones: a few ulps of values around 1.
        #expect(worst < 2e-6, "\(height)x\(width) -> \(outHeight)x\(outWidth): off by \(worst)")
    }
}

@Test func bicubicKeepsConstantImagesConstant() {
    for (height, width, outHeight, outWidth) in [(8, 8, 28, 28), (28, 28, 8, 8), (1, 5, 3, 17), (13, 2, 40, 1)] {
        let image = [Float](repeating: 0.625, count: height * width)
        let out = bicubic(image, height: height, width: width, outHeight: outHeight, outWidth: outWidth)
        let worst = out.map { abs($0 - 0.625) }.max() ?? .infinity
        #expect(worst < 1e-6, "\(height)x\(width) -> \(outHeight)x\(outWidth): off by \(worst)")
    }
}

@Test func bicubicIsIdentityForEqualSizes() {
    for (height, width) in [(1, 1), (8, 8), (28, 28), (5, 17)] {
        let image = (0..<(height * width)).map { _ in Float.random(in: -3...3) }
        #expect(bicubic(image, height: height, width: width, outHeight: height, outWidth: width) == image)
    }
}

/// TF does not clamp: across a step the cubic rings below the dark side and above the light one.
@Test func bicubicOvershootsAStep() {
    let out = bicubic([0, 0, 1, 1], height: 1, width: 4, outHeight: 1, outWidth: 16)
    #expect(out.min()! < 0)
    #expect(out.max()! > 1)
}

import Dataset
import Evaluation
import Foundation
import Testing
import TestSupport

/// skimage's PSNR and SSIM (data_range 1, default SSIM settings) written independently with numpy:
/// the whole filtered maps, borders included, then skimage's crop. `scipy.ndimage.uniform_filter`
/// in 'reflect' mode repeats the edge pixel, which is numpy's 'symmetric' padding; the 7x7 means
/// come from a summed-area table. Prints PSNR and SSIM for each of the image pairs.
private func numpyScript(height: Int, width: Int) -> String {
    """
    import sys
    import numpy as np

    def window_mean(x):
        padded = np.pad(x, 3, mode="symmetric")
        table = np.pad(padded, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        return (table[7:, 7:] - table[:-7, 7:] - table[7:, :-7] + table[:-7, :-7]) / 49.0

    def ssim(x, y):
        ux, uy = window_mean(x), window_mean(y)
        sample = 49.0 / 48.0
        vx = sample * (window_mean(x * x) - ux * ux)
        vy = sample * (window_mean(y * y) - uy * uy)
        vxy = sample * (window_mean(x * y) - ux * uy)
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
        return s[3:-3, 3:-3].mean()

    a = np.fromfile(sys.argv[1], dtype="<f8").reshape(-1, \(height), \(width))
    b = np.fromfile(sys.argv[2], dtype="<f8").reshape(-1, \(height), \(width))
    for x, y in zip(a, b):
        print(repr(float(10 * np.log10(1 / np.mean((x - y) ** 2)))), repr(float(ssim(x, y))))
    """
}

/// Our PSNR and SSIM of every pair of `height`x`width` images in `a` and `b` must be numpy's.
private func expectAgreementWithNumpy(_ a: [Float], _ b: [Float], height: Int, width: Int,
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
    let pixels = height * width
    let reference = try pythonNumbers(numpyScript(height: height, width: width), arrays: [a, b])
    try #require(reference.count == 2 * a.count / pixels, sourceLocation: sourceLocation)
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            for pair in 0..<(a.count / pixels) {
                let x = a.baseAddress! + pair * pixels, y = b.baseAddress! + pair * pixels
                let psnr = ImageQuality.psnr(x, y, count: pixels)
                let ssim = ImageQuality.ssim(x, y, height: height, width: width)
                // Only summation order differs, so far tighter than the 1e-6 asked for.
                #expect(abs(psnr - reference[2 * pair]) < 1e-9,
                        "\(height)x\(width) pair \(pair): PSNR \(psnr), numpy \(reference[2 * pair])",
                        sourceLocation: sourceLocation)
                #expect(abs(ssim - reference[2 * pair + 1]) < 1e-9,
                        "\(height)x\(width) pair \(pair): SSIM \(ssim), numpy \(reference[2 * pair + 1])",
                        sourceLocation: sourceLocation)
            }
        }
    }
}

@Test(.enabled(if: pythonHasNumpy, "needs python3 with numpy"))
func psnrAndSSIMAgreeWithNumpyOnRandomPairs() throws {
    var generator = SplitMix64(state: 20_240_611)
    for (height, width) in [(7, 7), (28, 28), (10, 13), (31, 17), (8, 40)] {
        let pixels = height * width
        var a: [Float] = [], b: [Float] = []
        // Unrelated noise, a noisy copy (SSIM well inside (0, 1)), and sparse strokes on black
        // (flat windows, as in MNIST).
        let noise = (0..<(2 * pixels)).map { _ in Float.random(in: 0...1, using: &generator) }
        a += noise[..<pixels]
        b += noise[pixels...]
        let clean = (0..<pixels).map { _ in Float.random(in: 0...1, using: &generator) }
        a += clean
        b += clean.map { min(max($0 + Float.random(in: -0.2...0.2, using: &generator), 0), 1) }
        let strokes = (0..<(2 * pixels)).map { _ in
            Float.random(in: 0...1, using: &generator) < 0.2 ? Float.random(in: 0...1, using: &generator) : 0
        }
        a += strokes[..<pixels]
        b += strokes[pixels...]
        try expectAgreementWithNumpy(a, b, height: height, width: width)
    }
}

@Test(.enabled(if: pythonHasNumpy, "needs python3 with numpy"))
func psnrAndSSIMAgreeWithNumpyOnMNIST() throws {
    let set = try ImageSet.load(.test, from: bundledData)
    let (targets, inputs) = targetsAndInputs(of: set, count: 40)
    let side = ImageSet.imageSide, pixels = side * side
    try expectAgreementWithNumpy(upscaled(inputs, bicubic: false), targets, height: side, width: side)
    try expectAgreementWithNumpy(upscaled(inputs, bicubic: true), targets, height: side, width: side)
    // Different digits against each other: little structure in common, low SSIM.
    try expectAgreementWithNumpy(Array(targets[pixels...]), Array(targets[..<(targets.count - pixels)]),
                                 height: side, width: side)
}

@Test func imageAgainstItselfIsPerfect() {
    var generator = SplitMix64(state: 7)
    let image = (0..<(28 * 28)).map { _ in Float.random(in: 0...1, using: &generator) }
    image.withUnsafeBufferPointer { image in
        let pointer = image.baseAddress!
        // The numerator and denominator are the same products, so the quotient is exactly 1.
        #expect(ImageQuality.ssim(pointer, pointer, height: 28, width: 28) == 1)
        // skimage divides by an MSE of zero too: +infinity.
        #expect(ImageQuality.psnr(pointer, pointer, count: 28 * 28) == .infinity)
    }
}

@Test func psnrOfAKnownError() {
    // Every other pixel off by 0.5 (exact in Float): MSE = 0.125, PSNR = 10 log10(8).
    let a = [Float](repeating: 0.25, count: 100)
    let b = (0..<100).map { $0 % 2 == 0 ? Float(0.25) : 0.75 }
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            let psnr = ImageQuality.psnr(a.baseAddress!, b.baseAddress!, count: 100)
            #expect(abs(psnr - 30 * log10(2.0)) < 1e-12)
            #expect(abs(psnr - 9.030899869919435) < 1e-12)
        }
    }
}

@Test func ssimOfFlatImagesHasAClosedForm() {
    // Flat images have no variance, so SSIM is the luminance term alone: C1 / (c^2 + C1) for
    // black against flat grey c, and (2 c d + C1) / (c^2 + d^2 + C1) in general.
    let black = [Float](repeating: 0, count: 12 * 9)
    let grey = [Float](repeating: 0.5, count: 12 * 9)
    let light = [Float](repeating: 0.75, count: 12 * 9)
    let c1 = 0.0001
    func ssim(_ a: [Float], _ b: [Float]) -> Double {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in ImageQuality.ssim(a.baseAddress!, b.baseAddress!, height: 12, width: 9) }
        }
    }
    #expect(abs(ssim(black, grey) - c1 / (0.25 + c1)) < 1e-15)
    #expect(abs(ssim(grey, light) - (2 * 0.5 * 0.75 + c1) / (0.25 + 0.5625 + c1)) < 1e-15)
    #expect(ssim(grey, light) == ssim(light, grey))
}

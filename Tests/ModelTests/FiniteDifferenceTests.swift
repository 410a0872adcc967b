import Foundation
import Kernels
import Model
import Testing
import TestSupport

/// Every layer's backward against central finite differences of its forward, on random
/// shapes and values. The loss is a random projection `L = sum(y * r)`, so `dL/dy = r`.
/// The generator is seeded, so a failure reproduces.
struct FiniteDifferenceTests {

    static func random(_ count: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Checks `analytic` against central differences of `loss` in every element of `values`.
    static func check(_ what: String, values: inout [Float], analytic: [Float], step h: Float = 1e-3,
                      loss: ([Float]) -> Double) {
        var worst: Float = 0
        for i in values.indices {
            let saved = values[i]
            values[i] = saved + h
            let up = loss(values)
            values[i] = saved - h
            let down = loss(values)
            values[i] = saved
            let numeric = Float((up - down) / Double(2 * h))
            worst = max(worst, abs(numeric - analytic[i]) / (abs(numeric) + 0.5))
        }
        #expect(worst < 1e-2, "\(what): finite differences disagree by \(worst)")
    }

    @Test(arguments: [(3, 7, 5, false), (2, 16, 3, true), (5, 2, 9, true)])
    func dense(batch: Int, inputs: Int, outputs: Int, relu: Bool) {
        var rng = SplitMix64(state: UInt64(batch * 100 + inputs))
        var x = Self.random(batch * inputs, &rng), w = Self.random(inputs * outputs, &rng)
        var b = Self.random(outputs, &rng)
        let r = Self.random(batch * outputs, &rng)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: batch * outputs)
            Dense.forward(x, batch: batch, inputs: inputs, outputs: outputs, weight: w, bias: b, relu: relu, into: &y)
            return y
        }
        var dy = r
        if relu { Elementwise.reluBackward(&dy, output: forward(x, w, b), count: dy.count) }
        var dw = [Float](repeating: 0, count: w.count), db = [Float](repeating: 0, count: b.count)
        var dx = [Float](repeating: 0, count: x.count)
        Dense.backward(dy, x: x, batch: batch, inputs: inputs, outputs: outputs, weight: w,
                       weightGradient: &dw, biasGradient: &db, inputGradient: &dx)
        let (x0, w0, b0) = (x, w, b)
        Self.check("dense input", values: &x, analytic: dx) { Self.dot(forward($0, w0, b0), r) }
        Self.check("dense weight", values: &w, analytic: dw) { Self.dot(forward(x0, $0, b0), r) }
        Self.check("dense bias", values: &b, analytic: db) { Self.dot(forward(x0, w0, $0), r) }
    }

    static let geometries: [(PatchGeometry, Int, Int)] = [   // geometry, batch, other channel count
        (PatchGeometry(small: (2, 2), large: (4, 4), channels: 3, stride: 2, pad: 0), 2, 4),
        (PatchGeometry(small: (3, 3), large: (5, 5), channels: 2, stride: 2, pad: 1), 3, 3),
        (PatchGeometry(small: (4, 3), large: (4, 3), channels: 2, stride: 1, pad: 1), 2, 5),
        (PatchGeometry(small: (3, 3), large: (6, 6), channels: 1, stride: 2, pad: 0), 1, 2),
    ]

    @Test(arguments: 0..<geometries.count)
    func convolution(case index: Int) {
        let (g, batch, outputs) = Self.geometries[index]
        var rng = SplitMix64(state: UInt64(7 + index))
        var x = Self.random(batch * g.largeCount, &rng), k = Self.random(g.patchWidth * outputs, &rng)
        var b = Self.random(outputs, &rng, scale: 0.3)
        let rows = batch * g.smallPositions
        let r = Self.random(rows * outputs, &rng)
        var patches = [Float](repeating: 0, count: rows * g.patchWidth)
        func forward(_ x: [Float], _ k: [Float], _ b: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * outputs)
            var scratch = [Float](repeating: 0, count: rows * g.patchWidth)
            Conv2D.forward(x, batch: batch, geometry: g, outputs: outputs, kernel: k, bias: b, patches: &scratch, into: &y)
            return y
        }
        var y = [Float](repeating: 0, count: rows * outputs)
        Conv2D.forward(x, batch: batch, geometry: g, outputs: outputs, kernel: k, bias: b, patches: &patches, into: &y)
        var dy = r
        var dk = [Float](repeating: 0, count: k.count), db = [Float](repeating: 0, count: b.count)
        var dx = [Float](repeating: 0, count: x.count)
        Conv2D.backward(&dy, y: y, batch: batch, geometry: g, outputs: outputs, kernel: k, patches: &patches,
                        kernelGradient: &dk, biasGradient: &db, inputGradient: &dx)
        let (x0, k0, b0) = (x, k, b)
        Self.check("conv input \(index)", values: &x, analytic: dx) { Self.dot(forward($0, k0, b0), r) }
        Self.check("conv kernel \(index)", values: &k, analytic: dk) { Self.dot(forward(x0, $0, b0), r) }
        Self.check("conv bias \(index)", values: &b, analytic: db) { Self.dot(forward(x0, k0, $0), r) }
    }

    @Test func samplingAndKL() {
        var rng = SplitMix64(state: 99)
        let count = 12
        var mean = Self.random(count, &rng), logVar = Self.random(count, &rng)
        let eps = Self.random(count, &rng), r = Self.random(count, &rng)
        let klScale: Float = 0.37
        func loss(_ mean: [Float], _ logVar: [Float]) -> Double {
            var z = [Float](repeating: 0, count: count)
            Sampling.forward(mean: mean, logVar: logVar, eps: eps, count: count, into: &z)
            return Self.dot(z, r) + Double(klScale) * Sampling.divergence(mean: mean, logVar: logVar, count: count)
        }
        var dMean = [Float](repeating: 0, count: count), dLogVar = [Float](repeating: 0, count: count)
        let kl = Sampling.backward(dz: r, mean: mean, logVar: logVar, eps: eps, count: count, klScale: klScale,
                                   meanGradient: &dMean, logVarGradient: &dLogVar)
        #expect(abs(kl - Sampling.divergence(mean: mean, logVar: logVar, count: count)) < 1e-9)
        let (m0, v0) = (mean, logVar)
        Self.check("sampling mean", values: &mean, analytic: dMean) { loss($0, v0) }
        Self.check("sampling log variance", values: &logVar, analytic: dLogVar) { loss(m0, $0) }
    }

    @Test func sigmoidCrossEntropy() {
        var rng = SplitMix64(state: 5)
        let count = 40
        var logits = Self.random(count, &rng, scale: 6)
        let targets = (0..<count).map { _ in Float.random(in: 0...1, using: &rng) }
        var gradient = [Float](repeating: 0, count: count)
        _ = Elementwise.sigmoidCrossEntropy(logits: logits, targets: targets, count: count, gradientScale: 1,
                                            logitGradient: &gradient)
        var scratch = [Float](repeating: 0, count: count)
        Self.check("sigmoid cross-entropy", values: &logits, analytic: gradient) {
            Elementwise.sigmoidCrossEntropy(logits: $0, targets: targets, count: count, gradientScale: 1, logitGradient: &scratch)
        }
        // Large logits stay finite and match the closed form.
        var big = [Float](repeating: 0, count: 2)
        let value = Elementwise.sigmoidCrossEntropy(logits: [200, -200], targets: [0, 1], count: 2, gradientScale: 1,
                                                    logitGradient: &big)
        #expect(abs(value - 400) < 1e-3 && big == [1, -1])
    }
}

import Kernels
import Testing
import TestSupport

/// Adam's vectorised update must keep Keras's float32 arithmetic: each operation rounded on its
/// own, never fused, in the vector lanes and the scalar tail alike, in every kernel build.
struct AdamUpdateTests {
    @Test(arguments: KernelBuild.allCases)
    func vectorisedUpdateHasThePlainLoopsBits(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        var rng = SplitMix64(state: 19)
        let count = 16 * 40 + 7   // whole vectors and a tail
        // Gradients over 30 binades with both signs and some zeros, as a step's are.
        func value() -> Float {
            Int.random(in: 0..<10, using: &rng) == 0 ? 0
                : Float(sign: Bool.random(using: &rng) ? .minus : .plus, exponent: -Int.random(in: 0...30, using: &rng),
                        significand: Float.random(in: 1..<2, using: &rng))
        }
        var parameters = (0..<count).map { _ in value() }, m = [Float](repeating: 0, count: count)
        var v = m
        var expected = (parameters, m, v)
        let alpha: Float = 3.1e-4, oneMinusBeta1: Float = 0.1, oneMinusBeta2: Float = 1 - 0.999, epsilon: Float = 1e-7
        for _ in 0..<5 {
            let g = (0..<count).map { _ in value() }
            AdamUpdate.apply(parameters: &parameters, m: &m, v: &v, gradients: g, count: count, alpha: alpha,
                             oneMinusBeta1: oneMinusBeta1, oneMinusBeta2: oneMinusBeta2, epsilon: epsilon)
            for i in 0..<count {   // Swift never fuses: the reference rounds every operation
                expected.1[i] += (g[i] - expected.1[i]) * oneMinusBeta1
                expected.2[i] += (g[i] * g[i] - expected.2[i]) * oneMinusBeta2
                expected.0[i] -= (expected.1[i] * alpha) / (expected.2[i].squareRoot() + epsilon)
            }
        }
        #expect(parameters.map(\.bitPattern) == expected.0.map(\.bitPattern))
        #expect(m.map(\.bitPattern) == expected.1.map(\.bitPattern))
        #expect(v.map(\.bitPattern) == expected.2.map(\.bitPattern))
    }
}

import Kernels
import Testing
import TestSupport

/// The passes beside the matrix products (elementwise.c) must give what one plain Swift
/// operation a value gives, in every lane and tail and in every kernel build: the bits the model
/// had before they moved to C.
struct ElementwiseTests {
    /// Values with both zeros, a NaN, and magnitudes over many binades.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(state: seed)
        let special: [Float] = [0, -0.0, .nan, -1e-40, 1e-40, .infinity, -.infinity]
        return (0..<count).map { i in
            i < special.count ? special[i]
                : Float(sign: Bool.random(using: &rng) ? .minus : .plus, exponent: Int.random(in: -20...20, using: &rng),
                        significand: Float.random(in: 1..<2, using: &rng))
        }
    }

    @Test(arguments: KernelBuild.allCases, [(1, 1), (3, 17), (16, 3136), (5, 64)])
    func passesKeepThePlainLoopsBits(_ build: KernelBuild, _ shape: (rows: Int, columns: Int)) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let (rows, columns) = shape
        let x = Self.values(rows * columns, seed: UInt64(columns)), bias = Self.values(columns, seed: 99).reversed().map { $0 }
        for relu in [false, true] {
            var y = x
            Elementwise.addBias(&y, rows: rows, columns: columns, bias: bias, relu: relu)
            let expected = x.indices.map { i in relu ? max(x[i] + bias[i % columns], 0) : x[i] + bias[i % columns] }
            #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "relu \(relu)")
        }

        var gradient = Self.values(rows * columns, seed: 5)
        let expectedGradient = gradient.indices.map { x[$0] > 0 ? gradient[$0] : 0 }
        Elementwise.reluBackward(&gradient, output: x, count: x.count)
        #expect(gradient.map(\.bitPattern) == expectedGradient.map(\.bitPattern))

        let finite = x.map { $0.isFinite ? $0 : 1 }
        var sums = bias.map { $0.isFinite ? $0 : 2 }, expectedSums = sums
        for r in 0..<rows { for c in 0..<columns { expectedSums[c] += finite[r * columns + c] } }
        Elementwise.addColumnSums(finite, rows: rows, columns: columns, into: &sums)
        #expect(sums.map(\.bitPattern) == expectedSums.map(\.bitPattern))
    }
}

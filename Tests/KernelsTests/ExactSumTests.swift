import Kernels
import Testing
import TestSupport

/// The exact sum is what makes results independent of how a batch is split: the same terms in
/// any order and grouping give the same bits, and the total is the correctly rounded sum.
struct ExactSumTests {

    /// Terms over many binades, signs mixed, as gradients are.
    static func terms(_ count: Int, width: Int, _ rng: inout SplitMix64) -> [[Float]] {
        (0..<count).map { _ in
            (0..<width).map { _ in
                Float(sign: Bool.random(using: &rng) ? .minus : .plus,
                      exponent: Int.random(in: -30...12, using: &rng),
                      significand: Float.random(in: 1..<2, using: &rng))
            }
        }
    }

    static func total(_ sum: ExactSum) -> [Float] {
        var out = [Float](repeating: 0, count: sum.count)
        sum.total(into: &out)
        return out
    }

    @Test func orderAndGroupingDoNotMatter() {
        var rng = SplitMix64(state: 11)
        let width = 257
        let terms = Self.terms(24, width: width, &rng)
        var inOrder = ExactSum(count: width)
        for t in terms { let added = inOrder.add(t); #expect(added) }

        // Shuffled, and split into three partial sums combined afterwards (as ranks would).
        let shuffled = terms.shuffled(using: &rng)
        var parts = [ExactSum](repeating: ExactSum(count: width), count: 3)
        for (i, t) in shuffled.enumerated() { let added = parts[i % 3].add(t); #expect(added) }
        var combined = parts[2]
        combined.add(parts[0])
        combined.add(parts[1])
        #expect(Self.total(combined).map(\.bitPattern) == Self.total(inOrder).map(\.bitPattern))

        // Exact: equals the float64 sum (exact here: 24 terms spanning 43 binades fit in 53+ bits
        // only approximately, so compare against a float64 sum to within one float32 rounding).
        let reference = (0..<width).map { j in terms.reduce(0.0) { $0 + Double($1[j]) } }
        for (mine, exact) in zip(Self.total(inOrder), reference) {
            #expect(abs(Double(mine) - exact) <= Double(abs(Float(exact)).ulp))
        }
    }

    @Test func refusesNonFiniteAndHugeValues() {
        var sum = ExactSum(count: 3)
        let accepted = [sum.add([1, 2, 3]), sum.add([1, .nan, 3]), sum.add([1, .infinity, 3]), sum.add([ExactSum.limit, 0, 0])]
        #expect(accepted == [true, false, false, false])
        #expect(Self.total(sum) == [1, 2, 3])   // refused terms added nothing
        sum.reset()
        #expect(Self.total(sum) == [0, 0, 0])
    }

    @Test func extremesOfTheRange() {
        var sum = ExactSum(count: 4)
        let big = ExactSum.limit.nextDown
        let accepted = [sum.add([big, -big, 0x1p-40, -0x1p-40]), sum.add([big, -big, 0x1p-40, 0x1p-41])]
        #expect(accepted == [true, true])
        #expect(Self.total(sum) == [2 * big, -2 * big, 0x1p-39, -0x1p-41])
    }
}

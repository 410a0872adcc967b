import Kernels
import Testing
import TestSupport

/// The block exact sum carries a training step's gradients between ranks: the same terms in any
/// order and grouping must give the same bits once the exponents are agreed on, and the total
/// must be the float32 rounding of the true sum.
struct BlockExactSumTests {
    /// Three blocks of different scales, as the model's tensors are.
    static let blocks = [0..<100, 100..<101, 101..<257]

    static func total(_ sum: BlockExactSum, _ exponents: [Int64]) -> [Float] {
        var out = [Float](repeating: .nan, count: sum.count)
        sum.total(into: &out, exponents: exponents)
        return out
    }

    /// Terms with signs mixed, spread over 20 binades below a per-block scale.
    static func terms(_ count: Int, _ rng: inout SplitMix64) -> [[Float]] {
        let scales = [-3, 9, -25]
        return (0..<count).map { _ in
            blocks.enumerated().flatMap { b, block in
                block.map { _ in
                    Float(sign: Bool.random(using: &rng) ? .minus : .plus,
                          exponent: scales[b] - Int.random(in: 0...20, using: &rng),
                          significand: Float.random(in: 1..<2, using: &rng))
                }
            }
        }
    }

    /// Sums `terms` split between `parts` accumulators (as ranks would), each agreeing on the
    /// exponents first.
    static func sum(_ terms: [[Float]], parts: Int) -> (BlockExactSum, [Int64]) {
        var accumulators = [BlockExactSum](repeating: BlockExactSum(blocks: blocks), count: parts)
        var exponents = accumulators[0].noExponents
        for (i, t) in terms.enumerated() {
            var own = accumulators[i % parts].noExponents
            #expect(accumulators[i % parts].cover(t, exponents: &own))
            exponents = zip(exponents, own).map { max($0, $1) }   // the all-reduce of max
        }
        for (i, t) in terms.enumerated() { accumulators[i % parts].add(t, exponents: exponents) }
        var combined = accumulators[parts - 1]
        for other in accumulators.dropLast() { combined.add(other) }
        return (combined, exponents)
    }

    @Test func orderAndGroupingDoNotMatterAndTheTotalIsTheRoundedSum() {
        var rng = SplitMix64(state: 5)
        let terms = Self.terms(40, &rng)
        let (inOrder, exponents) = Self.sum(terms, parts: 1)
        let (shuffled, shuffledExponents) = Self.sum(terms.shuffled(using: &rng), parts: 3)
        #expect(exponents == shuffledExponents)
        #expect(Self.total(shuffled, exponents).map(\.bitPattern) == Self.total(inOrder, exponents).map(\.bitPattern))

        // Every term here is within 2^21 of its block's largest, so none loses a bit: the total
        // is the float64 sum (itself exact to well under a float32 rounding) rounded once.
        let reference = (0..<inOrder.count).map { j in terms.reduce(0.0) { $0 + Double($1[j]) } }
        for (mine, exact) in zip(Self.total(inOrder, exponents), reference) {
            #expect(abs(Double(mine) - exact) <= Double(abs(Float(exact)).ulp))
        }
    }

    @Test func termsFarBelowTheLargestKeepBitsDownTo2ToTheMinus52OfIt() {
        let blocks = [0..<2]
        var sum = BlockExactSum(blocks: blocks)
        var exponents = sum.noExponents
        let big: Float = 1, tiny = Float(sign: .plus, exponent: -60, significand: 1)
        #expect(sum.cover([big, tiny], exponents: &exponents) && exponents == [1])
        sum.add([big, tiny], exponents: exponents)
        sum.add([-big, 0x1p-40], exponents: exponents)
        var out: [Float] = [0, 0]
        sum.total(into: &out, exponents: exponents)
        // 2^-60 is below the unit 2^(1 - 52) and floors to zero; 2^-40 is kept exactly.
        #expect(out == [0, 0x1p-40])
    }

    @Test func refusesNonFiniteAndHugeValues() {
        let sum = BlockExactSum(blocks: [0..<3])
        for bad: Float in [.nan, .infinity, -.infinity, 0x1p40] {
            var exponents = sum.noExponents
            #expect(!sum.cover([1, bad, 3], exponents: &exponents), "\(bad) was accepted")
        }
        var exponents = sum.noExponents
        #expect(sum.cover([Float(0x1p40).nextDown, -1, 0], exponents: &exponents) && exponents == [40])
    }

    @Test func zerosAndSubnormalsSumExactly() {
        var sum = BlockExactSum(blocks: [0..<3])
        var exponents = sum.noExponents
        let terms: [[Float]] = [[0, .leastNonzeroMagnitude, -0], [0, .leastNonzeroMagnitude, 0]]
        for t in terms { #expect(sum.cover(t, exponents: &exponents)) }
        for t in terms { sum.add(t, exponents: exponents) }
        var out: [Float] = [.nan, .nan, .nan]
        sum.total(into: &out, exponents: exponents)
        #expect(out == [0, 2 * .leastNonzeroMagnitude, 0])
    }
}

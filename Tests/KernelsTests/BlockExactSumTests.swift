import Kernels
import Testing
import TestSupport

/// The block exact sum carries a training step's gradients between ranks: the same terms in any
/// order and grouping must give the same bits once the exponents are agreed on, and the total
/// must be the float32 rounding of the true sum (int64) or of the sum of the terms floored to
/// the unit (int32), in every kernel build; a sum must refuse terms its integers cannot hold.
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
    static func sum(_ terms: [[Float]], parts: Int, encoding: BlockExactSum.Encoding = .int64) -> (BlockExactSum, [Int64]) {
        var accumulators = [BlockExactSum](repeating: BlockExactSum(blocks: blocks, encoding: encoding), count: parts)
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

    @Test(arguments: KernelBuild.allCases)
    func orderAndGroupingDoNotMatterAndTheTotalIsTheRoundedSum(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
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
        var sum = BlockExactSum(blocks: blocks, encoding: .int64)
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

    @Test(arguments: KernelBuild.allCases)
    func refusesNonFiniteAndHugeValues(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let sum = BlockExactSum(blocks: [0..<3], encoding: .int64)
        for bad: Float in [.nan, .infinity, -.infinity, 0x1p40] {
            var exponents = sum.noExponents
            #expect(!sum.cover([1, bad, 3], exponents: &exponents), "\(bad) was accepted")
        }
        var exponents = sum.noExponents
        #expect(sum.cover([Float(0x1p40).nextDown, -1, 0], exponents: &exponents) && exponents == [40])
    }

    @Test(arguments: KernelBuild.allCases)
    func zerosAndSubnormalsSumExactly(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        var sum = BlockExactSum(blocks: [0..<3], encoding: .int64)
        var exponents = sum.noExponents
        let terms: [[Float]] = [[0, .leastNonzeroMagnitude, -0], [0, .leastNonzeroMagnitude, 0]]
        for t in terms { #expect(sum.cover(t, exponents: &exponents)) }
        for t in terms { sum.add(t, exponents: exponents) }
        var out: [Float] = [.nan, .nan, .nan]
        sum.total(into: &out, exponents: exponents)
        #expect(out == [0, 2 * .leastNonzeroMagnitude, 0])
    }

    @Test func theEncodingIsTheNarrowestThatHoldsTheTerms() {
        let narrow: [(terms: Int, precision: Int)] = [(1, 31), (2, 30), (3, 29), (4, 29), (5, 28), (8, 28), (9, 27),
                                                      (16, 27), (17, 26), (32, 26), (33, 25), (64, 25)]
        for (terms, precision) in narrow {
            #expect(BlockExactSum.Encoding(terms: terms) == .int32(precision: precision), "\(terms) terms")
        }
        for terms in [65, 128, 2048] { #expect(BlockExactSum.Encoding(terms: terms) == .int64, "\(terms) terms") }
        for terms in 1...2048 {
            let encoding = BlockExactSum.Encoding(terms: terms)
            #expect(encoding.maxTerms >= terms)
            // A term floors to at least -2^precision units: the most terms, all at that floor,
            // just reach int32's least value.
            if case .int32(let precision) = encoding { #expect(encoding.maxTerms << precision == 1 << 31) }
        }
    }

    /// The int32 words of a sum: the sums, then the number of terms.
    static func words(_ sum: inout BlockExactSum) -> [Int32] {
        sum.withSums { words in
            guard case .int32(let words) = words else { return [] }
            return Array(words)
        }
    }

    @Test func theMostTermsAtTheLargestMagnitudesSumWithoutWrapping() {
        // 64 terms, precision 25: each block's value is the largest float32 below 2^3 = 8, of
        // either sign, which is 2^25 - 2 units of 2^-22.
        let encoding = BlockExactSum.Encoding(terms: 64)
        #expect(encoding == .int32(precision: 25))
        let largest = Float(8).nextDown
        var sum = BlockExactSum(blocks: [0..<1, 1..<2], encoding: encoding)
        var exponents = sum.noExponents
        #expect(sum.cover([largest, -largest], exponents: &exponents) && exponents == [3, 3])
        for _ in 0..<64 { sum.add([largest, -largest], exponents: exponents) }
        #expect(Self.words(&sum) == [(1 << 31) - 128, -((1 << 31) - 128), 64])
        var out: [Float] = [0, 0]
        sum.total(into: &out, exponents: exponents)
        #expect(out == [64 * largest, -64 * largest])

        // One term alone gets precision 31: the largest value is 2^31 - 2^7 units.
        var one = BlockExactSum(blocks: [0..<2], encoding: BlockExactSum.Encoding(terms: 1))
        one.add([largest, -largest], exponents: [3])
        #expect(Self.words(&one) == [(1 << 31) - 128, -((1 << 31) - 128), 1])
    }

    @Test(arguments: KernelBuild.allCases)
    func negativeValuesFloorTowardMinusInfinity(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        // A negative value smaller than the unit floors to -1 unit, not to 0: 64 of the least
        // subnormal make -64 units of 2^(3 - 25), the total -2^-16; positive ones floor to 0.
        var sum = BlockExactSum(blocks: [0..<3], encoding: .int32(precision: 25))
        let exponents: [Int64] = [3]
        for _ in 0..<64 { sum.add([-.leastNonzeroMagnitude, .leastNonzeroMagnitude, -0x1p-22], exponents: exponents) }
        #expect(Self.words(&sum) == [-64, 0, -64, 64])
        var out: [Float] = [0, 0, 0]
        sum.total(into: &out, exponents: exponents)
        #expect(out == [-0x1p-16, 0, -0x1p-16])
    }

    @Test(arguments: KernelBuild.allCases)
    func theNarrowSumIsTheSumOfTheFlooredTermsAndIndependentOfOrder(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        var rng = SplitMix64(state: 6)
        let terms = Self.terms(40, &rng)
        let encoding = BlockExactSum.Encoding(terms: 40)
        guard case .int32(let precision) = encoding else { Issue.record("40 terms should travel as int32"); return }
        let (inOrder, exponents) = Self.sum(terms, parts: 1, encoding: encoding)
        let (shuffled, _) = Self.sum(terms.shuffled(using: &rng), parts: 4, encoding: encoding)
        #expect(Self.total(shuffled, exponents).map(\.bitPattern) == Self.total(inOrder, exponents).map(\.bitPattern))
        // The same sum worked out in Swift's integers: each term floored to units of
        // 2^(e - precision), the units added, the total rounded once.
        let total = Self.total(inOrder, exponents)
        for (b, block) in Self.blocks.enumerated() {
            let unit = Double(sign: .plus, exponent: Int(exponents[b]) - precision, significand: 1)
            for j in block {
                let units = terms.reduce(Int64(0)) { $0 + Int64((Double($1[j]) / unit).rounded(.down)) }
                #expect(total[j] == Float(Double(units) * unit), "value \(j)")
            }
        }
    }

    @Test func moreTermsThanTheIntegersHoldAreRefused() async {
        // The 65th term of a 64-term sum could wrap int32: refused, not wrapped.
        await #expect(processExitsWith: .failure) {
            var sum = BlockExactSum(blocks: [0..<1], encoding: BlockExactSum.Encoding(terms: 64))
            for _ in 0..<65 { sum.add([Float(8).nextDown], exponents: [3]) }
        }
        // Two ranks' sums of 40 terms each, combined.
        await #expect(processExitsWith: .failure) {
            var sum = BlockExactSum(blocks: [0..<1], encoding: BlockExactSum.Encoding(terms: 64))
            for _ in 0..<40 { sum.add([1], exponents: [1]) }
            let other = sum
            sum.add(other)
        }
        // The same, combined by a collective (here by hand, wrapping as MPI's sum does).
        await #expect(processExitsWith: .failure) {
            var sum = BlockExactSum(blocks: [0..<1], encoding: BlockExactSum.Encoding(terms: 64))
            for _ in 0..<40 { sum.add([Float(8).nextDown], exponents: [3]) }
            sum.withSums { words in
                guard case .int32(let words) = words else { return }
                for i in words.indices { words[i] &+= words[i] }
            }
        }
    }
}

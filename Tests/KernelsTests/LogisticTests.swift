import CKernels
import Dispatch
import Foundation
import Kernels
import Testing
import TestSupport

/// The loss's vectorised exp and log1p (logistic.c) must round as glibc's expf (its FMA variant)
/// and log1pf did when the loss called them one value at a time, so that no bit of a run
/// changes; and, on any C library, they must be exp and log1p. Every kernel build's copy must give
/// the same bits (the exhaustive tests run the build in use, on every core).
struct LogisticTests {
    /// Whether this host's C library is the one the vector code follows, running the variant it
    /// follows: elsewhere there is nothing to be bit-identical to.
    static let glibcRoundsAsFollowed = MathLibrary.fusesMultiplyAdd && MathLibrary.version == "glibc 2.36"

    /// Bit patterns `first ... last` in chunks over the cores: the number of inputs where
    /// `ours` (a whole chunk at a time) and `reference` (one value) give different bits.
    static func mismatches(from first: UInt32, through last: UInt32,
                           ours: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
                           reference: @Sendable (Float) -> Float) -> Int {
        let chunk: UInt64 = 1 << 20, total = UInt64(last - first) + 1
        let chunks = Int((total + chunk - 1) / chunk)
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: chunks)
        defer { counts.deallocate() }
        nonisolated(unsafe) let shared = counts, compute = ours
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = UInt64(first) + UInt64(c) * chunk, count = Int(min(chunk, UInt64(last) + 1 - start))
            var x = [Float](repeating: 0, count: count), y = x
            for j in 0..<count { x[j] = Float(bitPattern: UInt32(start) &+ UInt32(j)) }
            compute(x, &y, count)
            shared[c] = (0..<count).count { j in
                let expected = reference(x[j])
                return y[j].bitPattern != expected.bitPattern && !(y[j].isNaN && expected.isNaN)
            }
        }
        return counts.reduce(0, +)
    }

    @Test(.enabled(if: glibcRoundsAsFollowed, "glibc 2.36's expf with FMA is the reference"))
    func expHasGlibcsBitsForEveryInputTheModelGives() {
        // The loss takes e^-|l|: every input <= 0. The sampling's e^(logVar / 2) may take any:
        // every 257th of the rest.
        let negatives = Self.mismatches(from: 0x8000_0000, through: 0xFFFF_FFFF,
                                        ours: { vae_exp($0, $1, $2) }, reference: { expf($0) })
        let x = stride(from: 0, through: UInt32(0x7FFF_FFFF), by: 257).map { Float(bitPattern: $0) }
        var y = x
        vae_exp(x, &y, x.count)
        let positives = zip(x, y).count { x, y in y.bitPattern != expf(x).bitPattern && !(y.isNaN && x.isNaN) }
        #expect(negatives == 0)
        #expect(positives == 0)
    }

    @Test(.enabled(if: glibcRoundsAsFollowed, "glibc 2.36's log1pf is the reference"))
    func log1pHasGlibcsBitsForEveryInputTheLossGives() {
        // The loss takes log(1 + e^-|l|): every input in [0, 1]; beyond it every 257th.
        let unit = Self.mismatches(from: 0, through: Float(1).bitPattern,
                                   ours: { vae_log1p($0, $1, $2) }, reference: { log1pf($0) })
        let x = stride(from: Float(1).bitPattern, through: 0x7FFF_FFFF, by: 257).map { Float(bitPattern: $0) }
        var y = x
        vae_log1p(x, &y, x.count)
        let beyond = zip(x, y).count { x, y in y.bitPattern != log1pf(x).bitPattern && !(y.isNaN && x.isNaN) }
        #expect(unit == 0)
        #expect(beyond == 0)
    }

    /// Every build's exp and log1p (the baseline's through the C library's fma()) on every 4099th
    /// bit pattern of their domains (log1p's: x >= 0): glibc's bits where it is the reference,
    /// else the baseline build's.
    @Test(arguments: KernelBuild.allCases)
    func everyBuildGivesTheSameBits(_ build: KernelBuild) throws {
        let all = stride(from: UInt32(0), through: UInt32.max - 4098, by: 4099).map { Float(bitPattern: $0) }
        let nonNegative = all.filter { $0.sign == .plus }
        func outputs(_ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void, _ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: x.count)
            f(x, &y, x.count)
            return y
        }
        func mismatches(_ a: [Float], _ b: [Float]) -> Int {
            zip(a, b).count { $0.bitPattern != $1.bitPattern && !($0.isNaN && $1.isNaN) }
        }
        let expected: (exp: [Float], log1p: [Float])
        if Self.glibcRoundsAsFollowed {
            expected = (all.map { expf($0) }, nonNegative.map { log1pf($0) })
        } else {
            try useKernels(.baseline)
            expected = (outputs({ vae_exp($0, $1, $2) }, all), outputs({ vae_log1p($0, $1, $2) }, nonNegative))
            KernelBuild.endUseOnThisThread()
        }
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        #expect(mismatches(outputs({ vae_exp($0, $1, $2) }, all), expected.exp) == 0)
        #expect(mismatches(outputs({ vae_log1p($0, $1, $2) }, nonNegative), expected.log1p) == 0)
    }

    /// On any C library: within one unit in the last place of the exact value (computed in double,
    /// where both functions are far more accurate than a float's rounding).
    @Test(arguments: KernelBuild.allCases)
    func expAndLog1pAreWithinAnUlpOfDoublePrecision(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        var rng = SplitMix64(state: 7)
        let x = (0..<100_000).map { _ in Float.random(in: -103...88, using: &rng) }
        let unit = (0..<100_000).map { _ in Float(sign: .plus, exponent: -Int.random(in: 0...40, using: &rng),
                                                  significand: Float.random(in: 1..<2, using: &rng)) }
        var e = x, l = unit
        vae_exp(x, &e, x.count)
        vae_log1p(unit, &l, unit.count)
        func ulps(_ value: Float, _ exact: Double) -> Double { abs(Double(value) - exact) / Double(Float(exact).ulp) }
        #expect(zip(x, e).map { ulps($1, Foundation.exp(Double($0))) }.max()! <= 1)
        #expect(zip(unit, l).map { ulps($1, Foundation.log1p(Double($0))) }.max()! <= 1)
        // The edges: underflow to the least subnormal and to zero, overflow, NaN.
        var edges: [Float] = [-.infinity, -104, -103.5, 0, 89, .infinity, .nan], edgeValues = edges
        vae_exp(edges, &edgeValues, edges.count)
        #expect(edgeValues.dropLast().map(\.bitPattern)
                == [0, 0, Float.leastNonzeroMagnitude, 1, .infinity, .infinity].map(\.bitPattern))
        #expect(edgeValues.last!.isNaN)
        edges = [0, .leastNonzeroMagnitude, 1e-30, .infinity]
        vae_log1p(edges, &edgeValues, edges.count)
        #expect(edgeValues.prefix(4).map(\.bitPattern) == [0, Float.leastNonzeroMagnitude, 1e-30, .infinity].map(\.bitPattern))
    }

    /// Logits the model meets and ones it should survive; counts with whole vectors and tails.
    static func logits(_ count: Int, seed: UInt64) -> (logits: [Float], targets: [Float]) {
        var rng = SplitMix64(state: seed)
        let special: [Float] = [0, -0.0, 1e-30, -1e-30, 17, -17, 90, -90, 120, -120, 1e6, -1e6]
        let logits = (0..<count).map { i in i < special.count ? special[i] : Float.random(in: -30...30, using: &rng) }
        let targets = (0..<count).map { _ in Float.random(in: 0...1, using: &rng) }
        return (logits, targets)
    }

    /// The loop the loss ran before it was vectorised, with glibc's functions.
    static func scalarLoss(_ logits: [Float], _ targets: [Float], scale: Float) -> (sum: Double, gradient: [Float]) {
        var sum: Double = 0, gradient = logits
        for i in logits.indices {
            let l = logits[i], y = targets[i], e = expf(-abs(l))
            sum += Double(max(l, 0) - l * y + log1pf(e))
            gradient[i] = ((l >= 0 ? 1 / (1 + e) : e / (1 + e)) - y) * scale
        }
        return (sum, gradient)
    }

    @Test(.enabled(if: glibcRoundsAsFollowed, "glibc 2.36's functions are the reference"),
          arguments: KernelBuild.allCases, [1, 15, 16, 17, 784 * 3 + 5])
    func lossAndSigmoidKeepTheScalarLoopsBits(_ build: KernelBuild, count: Int) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let (logits, targets) = Self.logits(count, seed: UInt64(count))
        var gradient = [Float](repeating: .nan, count: count)
        let sum = Elementwise.sigmoidCrossEntropy(logits: logits, targets: targets, count: count, gradientScale: 0.37,
                                                  logitGradient: &gradient)
        let expected = Self.scalarLoss(logits, targets, scale: 0.37)
        #expect(sum.bitPattern == expected.sum.bitPattern)
        #expect(gradient.map(\.bitPattern) == expected.gradient.map(\.bitPattern))

        var sigmoid = logits
        Elementwise.sigmoid(&sigmoid, count: count)
        let expectedSigmoid = logits.map { l in let e = expf(-abs(l)); return l >= 0 ? 1 / (1 + e) : e / (1 + e) }
        #expect(sigmoid.map(\.bitPattern) == expectedSigmoid.map(\.bitPattern))
    }

    /// On any C library: the loss and its gradient as double precision computes them.
    @Test(arguments: KernelBuild.allCases)
    func lossIsCrossEntropyOfTheSigmoid(_ build: KernelBuild) throws {
        try useKernels(build)
        defer { KernelBuild.endUseOnThisThread() }
        let (logits, targets) = Self.logits(784 * 2 + 9, seed: 3)
        var gradient = [Float](repeating: .nan, count: logits.count)
        let sum = Elementwise.sigmoidCrossEntropy(logits: logits, targets: targets, count: logits.count,
                                                  gradientScale: 2, logitGradient: &gradient)
        var exact: Double = 0
        for (i, (l, y)) in zip(logits, targets).enumerated() {
            let l = Double(l), y = Double(y), p = 1 / (1 + Foundation.exp(-l))
            exact += max(l, 0) - l * y + Foundation.log1p(Foundation.exp(-abs(l)))
            #expect(abs(Double(gradient[i]) - 2 * (p - y)) <= 1e-6, "logit \(l)")
        }
        #expect(abs(sum - exact) <= 1e-6 * abs(exact))
    }
}

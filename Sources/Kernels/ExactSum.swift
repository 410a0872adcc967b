import CKernels

/// An exact, order-independent sum of float32 vectors, added as they come.
///
/// Each float is turned into a fixed-point integer (a pure function of the float alone), and
/// integers add associatively; so the total is the same bit for bit whatever the order of the
/// terms and however they were grouped: across micro-batches, ranks, or a resumed run. It needs
/// no agreement beforehand, at twice the bytes of `BlockExactSum`: the trainer uses it for the
/// few values of its test losses, and `BlockExactSum` for the gradients.
///
/// A value is held as two 64-bit limbs, `high * 2^-12 + low * 2^-64`, `low` in [0, 2^52):
/// every float32 in [2^-40, 2^40) is represented exactly (its 24-bit mantissa fits), smaller
/// magnitudes are truncated at 2^-64, and up to 2^11 terms add without overflowing a limb.
/// Keeping the limbs apart (rather than one 128-bit integer) means a plain 64-bit integer
/// MPI_SUM can combine them.
public struct ExactSum: Sendable {
    /// Largest magnitude accepted: the limbs must not overflow when 2^11 terms are added.
    public static let limit: Float = 0x1p40
    /// Most terms one accumulator may take.
    public static let maxTerms = 1 << 11
    static let lowBits = 52
    static let fractionBits = 64

    /// `2 * count` limbs, interleaved high/low, ready to be summed element-wise as Int64.
    public private(set) var limbs: [Int64]
    public let count: Int
    public private(set) var terms = 0

    public init(count: Int) {
        self.count = count
        limbs = [Int64](repeating: 0, count: 2 * count)
    }

    public mutating func reset() {
        limbs.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        terms = 0
    }

    /// Adds `values` exactly. Returns false (and adds nothing) when a value is not finite or
    /// exceeds `limit`: a gradient that large means training has diverged.
    public mutating func add(_ values: UnsafePointer<Float>) -> Bool {
        precondition(terms < ExactSum.maxTerms, "ExactSum holds at most \(ExactSum.maxTerms) terms")
        for i in 0..<count where !(abs(values[i]) < ExactSum.limit) { return false }
        limbs.withUnsafeMutableBufferPointer { vae_exact_sum_add(values, $0.baseAddress!, count) }
        terms += 1
        return true
    }

    /// Adds one value at `index` only: a mark that rides along with the sum (test scoring's
    /// "failed" flag), so that the same collective carries it. At most one such value per
    /// index and rank, so the term limit still holds.
    public mutating func add(_ value: Float, at index: Int) -> Bool {
        guard abs(value) < ExactSum.limit else { return false }
        var value = value
        limbs.withUnsafeMutableBufferPointer { vae_exact_sum_add(&value, $0.baseAddress! + 2 * index, 1) }
        return true
    }

    /// Adds another accumulator's limbs (what an all-reduce does across ranks).
    public mutating func add(_ other: ExactSum) {
        precondition(other.count == count)
        for i in 0..<limbs.count { limbs[i] &+= other.limbs[i] }
        terms += other.terms
    }

    /// Replaces the limbs with totals combined elsewhere (by a collective over `limbs`).
    public mutating func withLimbs<R>(_ body: (UnsafeMutableBufferPointer<Int64>) throws -> R) rethrows -> R {
        try limbs.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// The total, rounded once to float32 from the exact integers (so it too is reproducible).
    public func total(into out: UnsafeMutablePointer<Float>) {
        let highUnit = Double(sign: .plus, exponent: ExactSum.lowBits - ExactSum.fractionBits, significand: 1)
        let lowUnit = Double(sign: .plus, exponent: -ExactSum.fractionBits, significand: 1)
        for i in 0..<count {
            let value = Double(limbs[2 * i]) * highUnit + Double(limbs[2 * i + 1]) * lowUnit
            out[i] = Float(value)
        }
    }
}

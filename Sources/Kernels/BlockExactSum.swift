import CKernels

/// An exact, order-independent sum of float32 vectors in one 64-bit integer a value: the
/// encoding `ExactAllReduce` (in Distributed) moves between machines.
///
/// The vector is cut into blocks (the model's tensors). In each block every term is written as
/// a whole number of one unit, `2^(e - 52)`, where every term of the whole sum is below `2^e` in
/// magnitude: so the terms' exponents are agreed on first (`cover`, then an element-wise max
/// across ranks), and only then are terms converted and added. A term's conversion is a pure
/// function of the term and the agreed exponent, and integers add associatively, so the total
/// is the same bits whatever the order and grouping of the terms. A term
/// keeps its bits down to 2^-52 of its block's largest term (float32 carries 2^-24 of its own).
/// Up to 2^11 terms.
public struct BlockExactSum: Sendable {
    public static let maxTerms = 1 << 11
    /// Terms must be below 2^40 in magnitude: larger gradients mean training has diverged.
    public static let exponentLimit = 40

    public let blocks: [Range<Int>]
    public let count: Int
    public private(set) var sums: [Int64]
    public private(set) var terms = 0

    public init(blocks: [Range<Int>]) {
        precondition(!blocks.isEmpty && blocks.first!.lowerBound == 0)
        precondition(zip(blocks, blocks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "blocks must tile the vector")
        self.blocks = blocks
        count = blocks.last!.upperBound
        sums = [Int64](repeating: 0, count: count)
    }

    /// Exponents before any term: below every float32's.
    public var noExponents: [Int64] { [Int64](repeating: -125, count: blocks.count) }

    /// Raises `exponents` (one per block) to cover `values`. Returns false when a value is not
    /// finite or not below 2^40.
    public func cover(_ values: UnsafePointer<Float>, exponents: inout [Int64]) -> Bool {
        for (b, block) in blocks.enumerated() {
            let e = Int64(vae_block_exponent(values + block.lowerBound, block.count))
            guard e <= Int64(Self.exponentLimit) else { return false }
            exponents[b] = max(exponents[b], e)
        }
        return true
    }

    /// Adds `values`, every one of which some call to `cover` has covered with `exponents`
    /// (after the exponents were agreed on by everyone who adds into this sum).
    public mutating func add(_ values: UnsafePointer<Float>, exponents: [Int64]) {
        precondition(terms < Self.maxTerms, "BlockExactSum holds at most \(Self.maxTerms) terms")
        sums.withUnsafeMutableBufferPointer { sums in
            for (b, block) in blocks.enumerated() {
                vae_block_exact_add(values + block.lowerBound, sums.baseAddress! + block.lowerBound, block.count,
                                    Int32(exponents[b]))
            }
        }
        terms += 1
    }

    /// Adds another sum of the same blocks and exponents (what an all-reduce does across ranks).
    public mutating func add(_ other: BlockExactSum) {
        precondition(other.blocks == blocks)
        for i in 0..<count { sums[i] &+= other.sums[i] }
        terms += other.terms
    }

    public mutating func reset() {
        sums.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        terms = 0
    }

    /// Replaces the sums with totals combined elsewhere (by a collective over `sums`).
    public mutating func withSums<R>(_ body: (UnsafeMutableBufferPointer<Int64>) throws -> R) rethrows -> R {
        try sums.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// The total, rounded once to float32 from the exact integers.
    public func total(into out: UnsafeMutablePointer<Float>, exponents: [Int64]) {
        sums.withUnsafeBufferPointer { sums in
            for (b, block) in blocks.enumerated() {
                vae_block_exact_total(sums.baseAddress! + block.lowerBound, out + block.lowerBound, block.count,
                                      Int32(exponents[b]))
            }
        }
    }
}

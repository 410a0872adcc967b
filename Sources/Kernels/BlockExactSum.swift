import CKernels

/// An exact, order-independent sum of float32 vectors in one integer a value: the encoding
/// `ExactAllReduce` (in Distributed) moves between machines.
///
/// The vector is cut into blocks (the model's tensors). In each block every term is written as
/// a whole number of one unit, where every term of the whole sum is below `2^e` in magnitude:
/// so the terms' exponents are agreed on first (`cover`, then an element-wise max across
/// ranks), and only then are terms converted and added. A term's conversion is a pure function
/// of the term, the agreed exponent and the encoding, and integers add associatively, so the
/// total is the same bits whatever the order and grouping of the terms.
///
/// The encoding is chosen once from the most terms a sum will ever hold (`Encoding(terms:)`),
/// never from how they are shared out, so every rank of every world size uses the same one.
public struct BlockExactSum: Sendable {
    /// How each value travels: the narrowest integer whose range holds the total of the most
    /// terms a sum will hold, while keeping every term's bits down to at least 2^-25 of its
    /// block's largest (float32 carries 2^-24 of its own).
    public enum Encoding: Equatable, Sendable {
        /// One int32 a value, in units of `2^(e - precision)`. A term floors to at least
        /// -2^precision and at most 2^precision - 1 units, so up to `2^(31 - precision)` terms
        /// total within int32's range: precision = 31 - ceil(log2(terms)).
        case int32(precision: Int)
        /// One int64 a value, in units of `2^(e - 52)`: a term keeps its bits down to 2^-52 of
        /// its block's largest. Up to 2^11 terms.
        case int64

        /// The least precision the narrow encoding is used with: below it a sum of many terms
        /// would round a term more coarsely than float32 rounds its block's largest value.
        public static let leastNarrowPrecision = 25

        /// The encoding for sums of at most `terms` terms: int32 up to 64 terms (precision 25 to
        /// 31), int64 beyond.
        public init(terms: Int) {
            precondition(terms >= 1 && terms <= 1 << 11, "an exact sum holds 1 to \(1 << 11) terms (got \(terms))")
            let bits = Int.bitWidth - (terms - 1).leadingZeroBitCount   // ceil(log2(terms))
            let precision = 31 - bits
            self = precision >= Self.leastNarrowPrecision ? .int32(precision: precision) : .int64
        }

        /// The most terms whose total cannot leave the integer's range.
        public var maxTerms: Int {
            switch self {
            case .int32(let precision): 1 << (31 - precision)
            case .int64: 1 << 11
            }
        }
    }

    /// Terms must be below 2^40 in magnitude: larger gradients mean training has diverged.
    public static let exponentLimit = 40

    public let blocks: [Range<Int>]
    public let count: Int
    public let encoding: Encoding
    /// The sums, then the number of terms they hold (so that a collective summing them also
    /// sums the count): in `narrow` for `.int32`, in `wide` for `.int64`; the other is empty.
    private var narrow: [Int32], wide: [Int64]
    public var terms: Int {
        switch encoding {
        case .int32: Int(narrow[count])
        case .int64: Int(wide[count])
        }
    }

    public init(blocks: [Range<Int>], encoding: Encoding) {
        precondition(!blocks.isEmpty && blocks.first!.lowerBound == 0)
        precondition(zip(blocks, blocks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "blocks must tile the vector")
        self.blocks = blocks
        self.encoding = encoding
        count = blocks.last!.upperBound
        switch encoding {
        case .int32: (narrow, wide) = (Array(repeating: 0, count: count + 1), [])
        case .int64: (narrow, wide) = ([], Array(repeating: 0, count: count + 1))
        }
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
        precondition(terms < encoding.maxTerms, "an exact sum in \(encoding) holds at most \(encoding.maxTerms) terms")
        switch encoding {
        case .int32(let precision):
            narrow.withUnsafeMutableBufferPointer { sums in
                for (b, block) in blocks.enumerated() {
                    vae_block_exact_add32(values + block.lowerBound, sums.baseAddress! + block.lowerBound, block.count,
                                          Int32(exponents[b]), Int32(precision))
                }
                sums[count] += 1
            }
        case .int64:
            wide.withUnsafeMutableBufferPointer { sums in
                for (b, block) in blocks.enumerated() {
                    vae_block_exact_add(values + block.lowerBound, sums.baseAddress! + block.lowerBound, block.count,
                                        Int32(exponents[b]))
                }
                sums[count] += 1
            }
        }
    }

    /// Adds another sum of the same blocks, encoding and exponents (what an all-reduce does
    /// across ranks).
    public mutating func add(_ other: BlockExactSum) {
        precondition(other.blocks == blocks && other.encoding == encoding)
        precondition(terms + other.terms <= encoding.maxTerms, "an exact sum in \(encoding) holds at most \(encoding.maxTerms) terms")
        for i in narrow.indices { narrow[i] &+= other.narrow[i] }
        for i in wide.indices { wide[i] &+= other.wide[i] }
    }

    public mutating func reset() {
        narrow.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        wide.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// The integers a collective sums: `count` sums, then the number of terms.
    public enum Words {
        case int32(UnsafeMutableBufferPointer<Int32>)
        case int64(UnsafeMutableBufferPointer<Int64>)
    }

    /// Replaces the sums and their count with totals combined elsewhere (by a collective over
    /// `words`). A total of more terms than the encoding holds may have wrapped: it is refused
    /// here, loudly, rather than turned into a wrong gradient.
    public mutating func withSums<R>(_ body: (Words) throws -> R) rethrows -> R {
        let result = switch encoding {
        case .int32: try narrow.withUnsafeMutableBufferPointer { try body(.int32($0)) }
        case .int64: try wide.withUnsafeMutableBufferPointer { try body(.int64($0)) }
        }
        precondition(terms >= 0 && terms <= encoding.maxTerms,
                     "the ranks' exact sums together hold \(terms) terms, more than the \(encoding.maxTerms) that \(encoding) holds")
        return result
    }

    /// The total, rounded once to float32 from the exact integers.
    public func total(into out: UnsafeMutablePointer<Float>, exponents: [Int64]) {
        switch encoding {
        case .int32(let precision):
            narrow.withUnsafeBufferPointer { sums in
                for (b, block) in blocks.enumerated() {
                    vae_block_exact_total32(sums.baseAddress! + block.lowerBound, out + block.lowerBound, block.count,
                                            Int32(exponents[b]), Int32(precision))
                }
            }
        case .int64:
            wide.withUnsafeBufferPointer { sums in
                for (b, block) in blocks.enumerated() {
                    vae_block_exact_total(sums.baseAddress! + block.lowerBound, out + block.lowerBound, block.count,
                                          Int32(exponents[b]))
                }
            }
        }
    }
}

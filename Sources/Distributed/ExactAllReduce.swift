import Dispatch
import Kernels

/// What every rank learns about every other in the same collective that agrees on the
/// exponents, so that all of them stop, or fail, after the same round.
public struct ExactAllReduceMarks: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// A rank was asked to stop after this round.
    public static let stop = Self(rawValue: 1 << 0)
    /// A rank could not sum a value (not finite, or beyond 2^`BlockExactSum.exponentLimit`):
    /// nothing was summed.
    public static let failed = Self(rawValue: 1 << 1)
}

/// Float32 vectors summed exactly over the threads of every rank: the total has the same bits
/// whatever the world size, the thread count, or which thread computed which term, because the
/// terms travel as `BlockExactSum`'s integers, in the encoding that the most terms of a round
/// (over all ranks) selects: fixed by the run's settings, so the same on every rank, at every
/// world size and across resumes.
///
/// A vector is the caller's blocks (the model's tensors, one block each), then one value per
/// case of `Extra` (the loss terms), each a block of its own. In a round every thread fills
/// terms from its own `Part`; then `reduce` agrees on the exponents and the marks with one max
/// over the ranks, and sums with one sum over the ranks.
public final class ExactAllReduce<Extra: CaseIterable & RawRepresentable & Sendable> where Extra.RawValue == Int {
    /// Marks, after the exponents, in the max collective's buffer.
    private enum MarkSlot: Int, CaseIterable { case failed, stop }

    public let parts: [Part]
    /// Floats in a vector: the blocks, then the extra values.
    public let count: Int
    private let extraStart: Int
    private let communicator: Communicator
    /// What the sum is of, for the labels of its two collectives ("exponent agreement" and
    /// "exact sum", after it when given), which a timeout names.
    private let purpose: String?
    private let totals: UnsafeMutablePointer<Float>
    /// Time spent in the collectives so far.
    public private(set) var collectiveTime = Duration.zero

    /// `blocks` must tile `0..<n`, or be empty; a round holds at most `terms` terms over all
    /// ranks (which must not depend on the world size), and `parts` threads will each fill at
    /// most `termsPerPart` of this rank's.
    public init(blocks: [Range<Int>], terms: Int, parts partCount: Int, termsPerPart: Int, communicator: Communicator,
                purpose: String? = nil) {
        precondition(Extra.allCases.map(\.rawValue) == Array(0..<Extra.allCases.count), "Extra's raw values must be 0, 1, ...")
        let start = blocks.last?.upperBound ?? 0
        let sum = BlockExactSum(blocks: blocks + Extra.allCases.map { (start + $0.rawValue)..<(start + $0.rawValue + 1) },
                                encoding: BlockExactSum.Encoding(terms: terms))
        extraStart = start
        count = sum.count
        parts = (0..<partCount).map { _ in Part(sum: sum, capacity: termsPerPart, extraStart: start) }
        self.communicator = communicator
        self.purpose = purpose
        totals = .allocate(capacity: count)
        totals.initialize(repeating: 0, count: count)
    }

    deinit { totals.deallocate() }

    /// Empties every part for a new round.
    public func start() {
        for part in parts { part.start() }
    }

    /// Agrees over every rank on the exponents and on the marks (this rank's `marks`, plus
    /// `.failed` if one of its parts failed); then, unless some rank failed, sums every part's
    /// terms of every rank into `total`. Returns the marks of all ranks together.
    public func reduce(marks: ExactAllReduceMarks) throws -> ExactAllReduceMarks {
        let first = parts[0]
        var local = marks
        if parts.contains(where: \.failed) { local.insert(.failed) }
        var agreed = parts.dropFirst().reduce(first.exponents) { zip($0, $1.exponents).map { max($0, $1) } }
        let blocks = agreed.count
        agreed += MarkSlot.allCases.map { slot in
            switch slot {
            case .failed: local.contains(.failed) ? 1 : 0
            case .stop: local.contains(.stop) ? 1 : 0
            }
        }
        try timed { try agreed.withUnsafeMutableBufferPointer { try communicator.allReduceMax($0, label: label("exponent agreement")) } }
        var all = ExactAllReduceMarks()
        if agreed[blocks + MarkSlot.failed.rawValue] > 0 { all.insert(.failed) }
        if agreed[blocks + MarkSlot.stop.rawValue] > 0 { all.insert(.stop) }
        guard !all.contains(.failed) else { return all }

        let exponents = Array(agreed.prefix(blocks))
        // Each part is touched by one thread only.
        nonisolated(unsafe) let parts = parts
        DispatchQueue.concurrentPerform(iterations: parts.count) { parts[$0].addHeld(exponents: exponents) }
        for part in parts.dropFirst() { first.sum.add(part.sum) }
        try timed {
            try first.sum.withSums {
                switch $0 {
                case .int32(let words): try communicator.allReduceSum(words, label: label("exact sum"))
                case .int64(let words): try communicator.allReduceSum(words, label: label("exact sum"))
                }
            }
        }
        first.sum.total(into: totals, exponents: exponents)
        return all
    }

    /// The last round's total: `count` floats.
    public var total: UnsafePointer<Float> { UnsafePointer(totals) }

    /// One extra value of the last round's total.
    public func total(_ extra: Extra) -> Float { totals[extraStart + extra.rawValue] }

    private func label(_ collective: String) -> String {
        purpose.map { "\(collective) of the \($0)" } ?? collective
    }

    private func timed(_ body: () throws -> Void) rethrows {
        let start = ContinuousClock.now
        try body()
        collectiveTime += ContinuousClock.now - start
    }

    /// One thread's terms of a round, held until the exponents are agreed on.
    public final class Part {
        fileprivate var sum: BlockExactSum
        /// The exponents that cover this part's terms so far.
        fileprivate private(set) var exponents: [Int64]
        fileprivate private(set) var failed = false
        private let terms: UnsafeMutablePointer<Float>
        private let capacity: Int
        private let extraStart: Int
        private var held = 0

        fileprivate init(sum: BlockExactSum, capacity: Int, extraStart: Int) {
            self.sum = sum
            self.capacity = capacity
            self.extraStart = extraStart
            exponents = sum.noExponents
            terms = .allocate(capacity: capacity * sum.count)
        }

        deinit { terms.deallocate() }

        fileprivate func start() {
            held = 0
            failed = false
            exponents = sum.noExponents
            sum.reset()
        }

        /// Room for the next term, to be filled and then given to `add`.
        public func nextTerm() -> Term {
            precondition(held < capacity, "more terms than a part holds")
            held += 1
            return Term(values: terms + (held - 1) * sum.count, extraStart: extraStart)
        }

        /// Takes `term` into the round. False, and the part is failed, when one of its values is
        /// not finite or too large: the caller stops filling terms.
        public func add(_ term: Term) -> Bool {
            guard sum.cover(term.values, exponents: &exponents) else {
                failed = true
                return false
            }
            return true
        }

        fileprivate func addHeld(exponents: [Int64]) {
            for slot in 0..<held { sum.add(terms + slot * sum.count, exponents: exponents) }
        }
    }

    /// One term: the blocks' values, then the extra values.
    public struct Term {
        public let values: UnsafeMutablePointer<Float>
        fileprivate let extraStart: Int

        public subscript(extra: Extra) -> Float {
            get { values[extraStart + extra.rawValue] }
            nonmutating set { values[extraStart + extra.rawValue] = newValue }
        }
    }
}

import Dispatch
import Foundation
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
/// A vector is the caller's blocks (the model's tensors, one block each) and one value per case
/// of `Extra` (the loss terms), each a block of its own. In a round every thread fills terms
/// from its own `Part`; then `reduce` agrees on the exponents and the marks with one max over
/// the ranks, and sums with one sum over the ranks.
///
/// The blocks from each of `earlyStarts` on (a backward pass's finished layers) can be summed
/// while the rest of the last term is still being computed: each such group has a max and a sum
/// of its own, run by a thread of their own as soon as every part has called `finalValues` for
/// it, which hides the group's share of the link's time behind the computation. The groups only
/// split the same values between more collectives, so the total has the same bits either way.
public final class ExactAllReduce<Extra: CaseIterable & RawRepresentable & Sendable>: @unchecked Sendable where Extra.RawValue == Int {
    /// Marks, after the exponents, in each max collective's buffer.
    private enum MarkSlot: Int, CaseIterable {
        case failed, stop
        var mark: ExactAllReduceMarks { self == .failed ? .failed : .stop }
    }

    public let parts: [Part]
    /// Floats in a term's `values` and in `total`: the blocks (the extra values are apart).
    public let count: Int
    /// The groups summed by their own collectives: the main one (the blocks before the first
    /// early group, and the extra values), then the early ones in the order they become final.
    private let groups: [Group]
    private let communicator: Communicator
    /// What the sum is of, for the labels of its collectives ("exponent agreement" and "exact
    /// sum", after it when given), which a timeout names.
    private let purpose: String?
    /// The extra values, then the blocks' values: the layout of every term.
    private let totals: UnsafeMutablePointer<Float>
    /// Reduces the early groups of a round while the parts compute (nil when `reduce` does).
    private let roundThread: RoundThread?
    private var earlyRoundStarted = false
    private var earlyOutcome: Result<ExactAllReduceMarks, Error> = .success([])
    /// Time this rank's caller spent in the collectives so far, or waiting for those that ran
    /// beside its work.
    public private(set) var collectiveTime = Duration.zero

    /// `blocks` must tile `0..<n`, or be empty; a round holds at most `terms` terms over all
    /// ranks (which must not depend on the world size), and `parts` threads will each fill at
    /// most `termsPerPart` of this rank's. `earlyStarts`: where the early groups begin, each a
    /// block's start, decreasing (the first group runs to the end of the blocks).
    public init(blocks: [Range<Int>], earlyStarts: [Int] = [], terms: Int, parts partCount: Int, termsPerPart: Int,
                communicator: Communicator, purpose: String? = nil) {
        precondition(Extra.allCases.map(\.rawValue) == Array(0..<Extra.allCases.count), "Extra's raw values must be 0, 1, ...")
        let extras = Extra.allCases.count
        let count = blocks.last?.upperBound ?? 0
        self.count = count
        precondition(zip([count] + earlyStarts, earlyStarts).allSatisfy { $0 > $1 } && earlyStarts.allSatisfy { start in
            blocks.contains { $0.lowerBound == start } && start > 0
        }, "early groups must start at blocks, in decreasing order, after the first block")
        let encoding = BlockExactSum.Encoding(terms: terms)
        // Each group is a run of the term's layout (extra values first) with blocks of its own.
        let ends = [earlyStarts.last ?? count] + ([count] + earlyStarts).dropLast()
        let starts = [0] + earlyStarts
        let groups = zip(starts, ends).enumerated().map { g, bounds in
            let lower = g == 0 ? 0 : extras + bounds.0, upper = extras + bounds.1
            var ranges = blocks.filter { $0.lowerBound >= bounds.0 && $0.upperBound <= bounds.1 }
                .map { ($0.lowerBound + extras)..<($0.upperBound + extras) }
            if g == 0 { ranges = (0..<extras).map { $0..<($0 + 1) } + ranges }
            let local = ranges.map { ($0.lowerBound - lower)..<($0.upperBound - lower) }
            return Group(values: lower..<upper, sum: BlockExactSum(blocks: local, encoding: encoding))
        }
        self.groups = groups
        parts = (0..<partCount).map { _ in Part(groups: groups, capacity: termsPerPart, extras: extras) }
        self.communicator = communicator
        self.purpose = purpose
        totals = .allocate(capacity: extras + count)
        totals.initialize(repeating: 0, count: extras + count)
        // Between machines, and where collectives may come from any thread, the early groups
        // overlap the computation.
        nonisolated(unsafe) let communicator = communicator
        roundThread = groups.count > 1 && communicator.spansMachines && communicator.acceptsCallsFromAnyThread
            ? RoundThread { communicator.prepareThreadForCollectives() } : nil
    }

    deinit {
        roundThread?.end()
        totals.deallocate()
    }

    /// Empties every part for a new round; the early groups' collectives start as soon as the
    /// parts have finished their values.
    public func start() {
        for part in parts { part.start() }
        guard let roundThread else { return }
        roundThread.run { self.earlyOutcome = Result { try self.reduceEarlyGroups(timed: false) } }
        earlyRoundStarted = true
    }

    /// Agrees over every rank on the exponents and on the marks (this rank's `marks`, plus
    /// `.failed` if one of its parts failed); then, unless some rank failed, sums every part's
    /// terms of every rank into `total`. Returns the marks of all ranks together. The parts'
    /// threads must have finished.
    public func reduce(marks: ExactAllReduceMarks) throws -> ExactAllReduceMarks {
        for part in parts { part.finishAll() }
        let early: ExactAllReduceMarks
        if let roundThread, earlyRoundStarted {
            let waited = ContinuousClock.now
            roundThread.wait()
            collectiveTime += ContinuousClock.now - waited
            earlyRoundStarted = false
            early = try earlyOutcome.get()
        } else {
            early = try reduceEarlyGroups(timed: true)
        }
        return try reduce(group: 0, marks: marks.union(early), timed: true)
    }

    /// The last round's total: `count` floats.
    public var total: UnsafePointer<Float> { UnsafePointer(totals + Extra.allCases.count) }

    /// One extra value of the last round's total.
    public func total(_ extra: Extra) -> Float { totals[extra.rawValue] }

    /// The early groups in order, each once every part has finished it; a failure agreed on in
    /// one is carried into the later ones' agreements, so they sum nothing. Returns `.failed` if
    /// one failed.
    private func reduceEarlyGroups(timed: Bool) throws -> ExactAllReduceMarks {
        var marks = ExactAllReduceMarks()
        for g in groups.indices.dropFirst() {
            for part in parts { part.shares[g].final.wait() }
            marks.formUnion(try reduce(group: g, marks: marks, timed: timed))
        }
        return marks
    }

    /// Agrees on group `g`'s exponents and on the marks (`marks`, plus `.failed` if a part failed
    /// in this group), then, unless some rank failed, sums the group's terms over the parts and
    /// the ranks into `totals`. `timed`: on the caller's thread, where its collectives' time
    /// counts in `collectiveTime`.
    private func reduce(group g: Int, marks: ExactAllReduceMarks, timed: Bool) throws -> ExactAllReduceMarks {
        let shares = parts.map { $0.shares[g] }
        var local = marks
        if shares.contains(where: \.failed) { local.insert(.failed) }
        var agreed = shares.dropFirst().reduce(shares[0].exponents) { zip($0, $1.exponents).map { max($0, $1) } }
        let blocks = agreed.count
        agreed += MarkSlot.allCases.map { local.contains($0.mark) ? 1 : 0 }
        try measured(timed) {
            try agreed.withUnsafeMutableBufferPointer { try communicator.allReduceMax($0, label: label("exponent agreement")) }
        }
        let all = MarkSlot.allCases.reduce(into: ExactAllReduceMarks()) { all, slot in
            if agreed[blocks + slot.rawValue] > 0 { all.insert(slot.mark) }
        }
        guard !all.contains(.failed) else { return all }

        let exponents = Array(agreed.prefix(blocks))
        // Each part is touched by one thread only.
        nonisolated(unsafe) let parts = parts
        DispatchQueue.concurrentPerform(iterations: parts.count) { parts[$0].addHeld(group: g, exponents: exponents) }
        for share in shares.dropFirst() { shares[0].sum.add(share.sum) }
        try measured(timed) {
            try shares[0].sum.withSums {
                switch $0 {
                case .int32(let words): try communicator.allReduceSum(words, label: label("exact sum"))
                case .int64(let words): try communicator.allReduceSum(words, label: label("exact sum"))
                }
            }
        }
        shares[0].sum.total(into: totals + groups[g].values.lowerBound, exponents: exponents)
        return all
    }

    private func label(_ collective: String) -> String {
        purpose.map { "\(collective) of the \($0)" } ?? collective
    }

    private func measured(_ timed: Bool, _ body: () throws -> Void) rethrows {
        guard timed else { return try body() }
        let start = ContinuousClock.now
        try body()
        collectiveTime += ContinuousClock.now - start
    }

    /// A thread of its own for the early groups: one thread, so that what `prepare` sets for it
    /// (its scheduling) holds for every round.
    private final class RoundThread: @unchecked Sendable {
        private let started = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        /// The next round's work; nil ends the thread.
        private var work: (() -> Void)?

        init(prepare: @escaping @Sendable () -> Void) {
            Thread { [self] in
                prepare()
                while true {
                    started.wait()
                    guard let round = work else { return }
                    work = nil
                    round()
                    finished.signal()
                }
            }.start()
        }

        func run(_ round: @escaping () -> Void) {
            work = round
            started.signal()
        }

        func wait() { finished.wait() }

        func end() {
            work = nil
            started.signal()
        }
    }

    /// A run of the terms' layout with collectives of its own.
    fileprivate struct Group {
        let values: Range<Int>
        let sum: BlockExactSum
    }

    /// One part's share of a group: touched by the part's thread until it is final, then by the
    /// thread that reduces the group.
    fileprivate final class Share {
        var sum: BlockExactSum
        /// The exponents that cover this part's terms so far.
        var exponents: [Int64]
        var failed = false
        /// Signalled once a round, when the part's terms will not change in this group.
        let final = DispatchSemaphore(value: 0)
        var isFinal = false

        init(sum: BlockExactSum) {
            self.sum = sum
            exponents = sum.noExponents
        }
    }

    /// One thread's terms of a round, held until the exponents are agreed on.
    public final class Part {
        fileprivate let shares: [Share]
        private let groups: [Group]
        private let terms: UnsafeMutablePointer<Float>
        private let capacity: Int, extras: Int, width: Int
        private var held = 0

        fileprivate init(groups: [Group], capacity: Int, extras: Int) {
            self.groups = groups
            self.capacity = capacity
            self.extras = extras
            width = groups.map(\.values.upperBound).max()!
            shares = groups.map { Share(sum: $0.sum) }
            terms = .allocate(capacity: capacity * width)
        }

        deinit { terms.deallocate() }

        fileprivate func start() {
            held = 0
            for share in shares {
                share.exponents = share.sum.noExponents
                share.failed = false
                share.isFinal = false
                share.sum.reset()
            }
        }

        /// Room for the next term, to be filled and then given to `add`.
        public func nextTerm() -> Term {
            precondition(held < capacity, "more terms than a part holds")
            held += 1
            return Term(storage: terms + (held - 1) * width, extras: extras)
        }

        /// Takes `term` into the round. False, and the part is failed, when one of its values is
        /// not finite or too large: the caller stops filling terms.
        public func add(_ term: Term) -> Bool {
            for g in groups.indices where !shares[g].isFinal { cover(g, of: term) }
            return !shares.contains(where: \.failed)
        }

        /// Says that `term`, this part's last of the round, will not change from value `start`
        /// on (a block's start): the early groups there are covered and can be summed now.
        public func finalValues(from start: Int, of term: Term) {
            for g in groups.indices.dropFirst() where !shares[g].isFinal && groups[g].values.lowerBound >= start + extras {
                cover(g, of: term)
                finish(g)
            }
        }

        /// Every group is final once the part's thread is done.
        fileprivate func finishAll() {
            for g in groups.indices where !shares[g].isFinal { finish(g) }
        }

        private func cover(_ g: Int, of term: Term) {
            if !shares[g].sum.cover(term.storage + groups[g].values.lowerBound, exponents: &shares[g].exponents) {
                shares[g].failed = true
            }
        }

        private func finish(_ g: Int) {
            shares[g].isFinal = true
            if g > 0 { shares[g].final.signal() }
        }

        fileprivate func addHeld(group g: Int, exponents: [Int64]) {
            let start = groups[g].values.lowerBound
            for slot in 0..<held { shares[g].sum.add(terms + slot * width + start, exponents: exponents) }
        }
    }

    /// One term: the blocks' values, and the extra values.
    public struct Term {
        /// The extra values, then the blocks'.
        fileprivate let storage: UnsafeMutablePointer<Float>
        fileprivate let extras: Int
        /// The blocks' values: `count` floats.
        public var values: UnsafeMutablePointer<Float> { storage + extras }

        public subscript(extra: Extra) -> Float {
            get { storage[extra.rawValue] }
            nonmutating set { storage[extra.rawValue] = newValue }
        }
    }
}

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
        let groups = Group.schedule(blocks: blocks, earlyStarts: earlyStarts, extras: extras,
                                    encoding: BlockExactSum.Encoding(terms: terms))
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
        roundThread.run { self.earlyOutcome = Result { try self.reduceEarlyGroups() } }
        earlyRoundStarted = true
    }

    /// Agrees over every rank on the exponents and on the marks (this rank's `marks`, plus
    /// `.failed` if one of its parts failed); then, unless some rank failed, sums every part's
    /// terms of every rank into `total`. Returns the marks of all ranks together. The parts'
    /// threads must have finished.
    public func reduce(marks: ExactAllReduceMarks) throws -> ExactAllReduceMarks {
        for part in parts { part.finish() }
        guard let roundThread, earlyRoundStarted else {
            // Every group in one pass: waking the parts' threads costs more than a group's
            // conversion (a pass a group took 0.15-0.19 ms on a 2-core Xeon, whatever its size).
            for g in groups.indices.dropFirst() { for part in parts { part.shares[g].final.wait() } }
            return try reduce(groups: Array(groups.indices.dropFirst()) + [0], marks: marks, timed: true)
        }
        let waited = ContinuousClock.now
        roundThread.wait()
        collectiveTime += ContinuousClock.now - waited
        earlyRoundStarted = false
        return try reduce(groups: [0], marks: marks.union(earlyOutcome.get()), timed: true)
    }

    /// The last round's total: `count` floats.
    public var total: UnsafePointer<Float> { UnsafePointer(totals + Extra.allCases.count) }

    /// One extra value of the last round's total.
    public func total(_ extra: Extra) -> Float { totals[extra.rawValue] }

    /// The early groups in order, each once every part has finished it, on the round thread; a
    /// failure agreed on in one is carried into the later ones' agreements, so they sum nothing.
    /// Returns `.failed` if one failed.
    private func reduceEarlyGroups() throws -> ExactAllReduceMarks {
        var marks = ExactAllReduceMarks()
        for g in groups.indices.dropFirst() {
            for part in parts { part.shares[g].final.wait() }
            marks.formUnion(try reduce(groups: [g], marks: marks, timed: false))
        }
        return marks
    }

    /// Agrees on the exponents of the groups `gs`, one after another, and on the marks (`marks`,
    /// plus `.failed` if a part failed in a group); a failure agreed on ends the round there, on
    /// every rank alike. Then the parts convert their terms of all of them in one pass over their
    /// threads, and each group is summed over the parts and the ranks into `totals`. `timed`: on
    /// the caller's thread, where its collectives' time counts in `collectiveTime`.
    private func reduce(groups gs: [Int], marks: ExactAllReduceMarks, timed: Bool) throws -> ExactAllReduceMarks {
        var all = marks, agreedGroups: [(group: Int, exponents: [Int64])] = []
        for g in gs {
            let shares = parts.map { $0.shares[g] }
            var local = all
            if shares.contains(where: \.failed) { local.insert(.failed) }
            var agreed = shares.dropFirst().reduce(shares[0].exponents) { zip($0, $1.exponents).map { max($0, $1) } }
            let blocks = agreed.count
            agreed += MarkSlot.allCases.map { local.contains($0.mark) ? 1 : 0 }
            try measured(timed) {
                try agreed.withUnsafeMutableBufferPointer { try communicator.allReduceMax($0, label: label("exponent agreement")) }
            }
            all = MarkSlot.allCases.reduce(into: ExactAllReduceMarks()) { all, slot in
                if agreed[blocks + slot.rawValue] > 0 { all.insert(slot.mark) }
            }
            guard !all.contains(.failed) else { return all }
            agreedGroups.append((g, Array(agreed.prefix(blocks))))
        }
        // Each part is touched by one thread only.
        nonisolated(unsafe) let parts = parts
        let summed = agreedGroups
        DispatchQueue.concurrentPerform(iterations: parts.count) { p in
            for (g, e) in summed { parts[p].addHeld(group: g, exponents: e) }
        }
        for (g, e) in summed {
            let shares = parts.map { $0.shares[g] }
            for share in shares.dropFirst() { shares[0].sum.add(share.sum) }
            try measured(timed) {
                try shares[0].sum.withSums {
                    switch $0 {
                    case .int32(let words): try communicator.allReduceSum(words, label: label("exact sum"))
                    case .int64(let words): try communicator.allReduceSum(words, label: label("exact sum"))
                    }
                }
            }
            shares[0].sum.total(into: totals + groups[g].values.lowerBound, exponents: e)
        }
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
}

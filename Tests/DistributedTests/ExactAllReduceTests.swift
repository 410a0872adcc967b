import Distributed
import Kernels
import Foundation
import Testing
import TestSupport

/// The exact all-reduce must give every rank the same total, with the same bits at any world
/// size and thread count, and the float32 rounding of the true sum; its marks must reach every
/// rank. Ranks here are threads of this process, meeting in `ThreadGroup`'s collectives.
struct ExactAllReduceTests {
    enum Extra: Int, CaseIterable { case first, second }

    /// Two blocks of different scales, then the two extra values.
    static let blocks = [0..<50, 50..<53]

    /// Terms with signs mixed, spread over 20 binades below a per-block scale.
    static func terms(_ count: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(state: seed)
        let scales = [-3, 9, 2, -20]
        let widths = [50, 3, 1, 1]
        return (0..<count).map { _ in
            zip(scales, widths).flatMap { scale, width in
                (0..<width).map { _ in
                    Float(sign: Bool.random(using: &rng) ? .minus : .plus, exponent: scale - Int.random(in: 0...20, using: &rng),
                          significand: Float.random(in: 1..<2, using: &rng))
                }
            }
        }
    }

    /// Sums `terms` over `ranks` ranks of `threads` threads each, terms dealt to ranks in
    /// contiguous runs and to a rank's threads by `deal` (contiguous runs unless given);
    /// `marks(rank)` is what each rank brings. Returns every rank's total and marks. With
    /// `early`, the second block is an early group, finished before each part's last term is
    /// added, and the part finished after it (or, when `finishEarly` is false, only by `reduce`).
    static func reduce(_ terms: [[Float]], ranks: Int, threads: Int, early: Bool = false, finishEarly: Bool = true,
                       deal: @escaping @Sendable (Range<Int>, Int) -> [[Int]] = { runs($0, parts: $1).map(Array.init) },
                       marks: @escaping @Sendable (Int) -> ExactAllReduceMarks = { _ in [] })
        -> [(total: [Float], marks: ExactAllReduceMarks)] {
        let group = ThreadGroup(size: ranks)
        return group.run { communicator in
            let sum = ExactAllReduce<Extra>(blocks: blocks, earlyStarts: early ? [50] : [], terms: terms.count, parts: threads,
                                            termsPerPart: terms.count, communicator: communicator)
            // Two rounds: the first of other terms, so that the second shows nothing is left over.
            for round in 0..<2 {
                let roundTerms = round == 0 ? terms.map { $0.map { $0 * 3 } } : terms
                sum.start()
                let rankTerms = runs(roundTerms.indices, parts: ranks)[communicator.rank]
                for (part, run) in zip(sum.parts, deal(rankTerms, threads)) {
                    for t in run {
                        let term = part.nextTerm()
                        term.values.update(from: roundTerms[t], count: blocks.last!.upperBound)
                        if early && finishEarly && t == run.last { part.finalValues(from: 50, of: term) }
                        term[.first] = roundTerms[t][53]
                        term[.second] = roundTerms[t][54]
                        guard part.add(term) else { break }
                    }
                    if finishEarly { part.finish() }
                }
                let agreed = try sum.reduce(marks: marks(communicator.rank))
                if round == 1 {
                    return (Array(UnsafeBufferPointer(start: sum.total, count: sum.count)) + [sum.total(.first), sum.total(.second)],
                            agreed)
                }
            }
            fatalError("unreachable")
        }
    }

    static func runs(_ items: Range<Int>, parts: Int) -> [Range<Int>] {
        (0..<parts).map { p in (items.lowerBound + p * items.count / parts)..<(items.lowerBound + (p + 1) * items.count / parts) }
    }

    /// 1 and 64 terms travel as int32 (the least and the most of them), 24 too, 100 as int64.
    @Test(arguments: [1, 24, 64, 100])
    func sameBitsAtAnyWorldSizeAndThreadCountAndTheRoundedSum(termCount: Int) throws {
        let terms = Self.terms(termCount, seed: 3)
        let single = try #require(Self.reduce(terms, ranks: 1, threads: 1).first)
        #expect(single.marks.isEmpty)
        for (ranks, threads) in [(2, 1), (3, 2), (1, 3), (4, 1), (5, 1)] {
            for (rank, result) in Self.reduce(terms, ranks: ranks, threads: threads).enumerated() {
                #expect(result.total.map(\.bitPattern) == single.total.map(\.bitPattern), "\(ranks) ranks x \(threads) threads, rank \(rank)")
                #expect(result.marks.isEmpty)
            }
        }
        switch BlockExactSum.Encoding(terms: termCount) {
        case .int64:
            // Every term is within 2^21 of its block's largest, so none loses a bit: the total is
            // the float64 sum (itself exact to well under a float32 rounding) rounded once.
            for j in 0..<single.total.count {
                let exact = terms.reduce(0.0) { $0 + Double($1[j]) }
                #expect(abs(Double(single.total[j]) - exact) <= Double(abs(Float(exact)).ulp), "value \(j)")
            }
        case .int32(let precision):
            // The sum of the terms floored to units of 2^(e - precision), e the least exponent
            // above every term of the value's block, rounded once.
            for block in Self.blocks + [53..<54, 54..<55] {
                let e = terms.flatMap { $0[block] }.map { $0 == 0 ? -125 : Int($0.exponent) + 1 }.max()!
                let unit = Double(sign: .plus, exponent: e - precision, significand: 1)
                for j in block {
                    let units = terms.reduce(Int64(0)) { $0 + Int64((Double($1[j]) / unit).rounded(.down)) }
                    #expect(single.total[j] == Float(Double(units) * unit), "value \(j)")
                }
            }
        }
    }

    /// A rank's threads take its terms as they come free: any thread may hold any of them, in
    /// any order, or none. The total keeps its bits however they are dealt.
    @Test(arguments: [7, 64])
    func sameBitsHoweverARanksTermsAreDealtToItsThreads(termCount: Int) throws {
        let terms = Self.terms(termCount, seed: 11)
        let single = try #require(Self.reduce(terms, ranks: 1, threads: 1).first)
        let deals: [(String, @Sendable (Range<Int>, Int) -> [[Int]])] = [
            ("all to the last thread", { items, threads in Array(repeating: [], count: threads - 1) + [Array(items)] }),
            ("round robin, backwards", { items, threads in
                (0..<threads).map { p in items.reversed().enumerated().filter { $0.offset % threads == p }.map(\.element) } }),
            ("one to the first, the rest to the second", { items, threads in
                [Array(items.prefix(1)), Array(items.dropFirst())] + Array(repeating: [], count: threads - 2) }),
        ]
        for (ranks, threads) in [(1, 2), (2, 3), (3, 2)] {
            for early in [false, true] {
                for (name, deal) in deals {
                    for (rank, result) in Self.reduce(terms, ranks: ranks, threads: threads, early: early, deal: deal).enumerated() {
                        #expect(result.total.map(\.bitPattern) == single.total.map(\.bitPattern),
                                "\(ranks) ranks x \(threads) threads, \(name), early groups: \(early), rank \(rank)")
                    }
                }
            }
        }
    }

    /// Early groups split the same sums between more collectives, summed beside the caller's
    /// work: the totals keep their bits, and a value that cannot be summed there fails every rank.
    @Test(arguments: [6, 64])
    func earlyGroupsKeepTheBits(termCount: Int) throws {
        let terms = Self.terms(termCount, seed: 6)
        let single = try #require(Self.reduce(terms, ranks: 1, threads: 1).first)
        for (ranks, threads) in [(1, 1), (2, 1), (3, 2), (4, 1)] {
            for finishEarly in [true, false] {
                for (rank, result) in Self.reduce(terms, ranks: ranks, threads: threads, early: true, finishEarly: finishEarly).enumerated() {
                    #expect(result.total.map(\.bitPattern) == single.total.map(\.bitPattern),
                            "\(ranks) ranks x \(threads) threads, rank \(rank), finished early: \(finishEarly)")
                    #expect(result.marks.isEmpty)
                }
            }
        }
        for bad: Float in [.nan, .infinity, 0x1p40] {
            for t in [0, termCount - 1] {   // a term added whole, and the last, finished early
                var poisoned = terms
                poisoned[t][51] = bad
                let results = Self.reduce(poisoned, ranks: 3, threads: 1, early: true)
                #expect(results.map { $0.marks.contains(.failed) } == [true, true, true], "\(bad) in term \(t)")
            }
        }
        let stopped = Self.reduce(terms, ranks: 2, threads: 2, early: true, marks: { $0 == 1 ? .stop : [] })
        #expect(stopped.map(\.marks) == [.stop, .stop])
        #expect(stopped.allSatisfy { $0.total.map(\.bitPattern) == single.total.map(\.bitPattern) })
    }

    @Test func aStopOnOneRankReachesEveryRank() {
        let terms = Self.terms(6, seed: 4)
        let results = Self.reduce(terms, ranks: 3, threads: 1, marks: { $0 == 2 ? .stop : [] })
        #expect(results.map(\.marks) == [.stop, .stop, .stop])
        let plain = Self.reduce(terms, ranks: 3, threads: 1)
        #expect(results.map { $0.total.map(\.bitPattern) } == plain.map { $0.total.map(\.bitPattern) }, "a stop still sums")
    }

    @Test func aValueThatCannotBeSummedFailsEveryRank() {
        for bad: Float in [.nan, .infinity, 0x1p40] {
            var terms = Self.terms(6, seed: 5)
            terms[5][54] = bad   // an extra value of the last rank's last term
            let results = Self.reduce(terms, ranks: 3, threads: 2)
            #expect(results.map { $0.marks.contains(.failed) } == [true, true, true], "\(bad)")
        }
        let marked = Self.reduce(Self.terms(6, seed: 5), ranks: 2, threads: 1, marks: { $0 == 0 ? .failed : [] })
        #expect(marked.map(\.marks) == [.failed, .failed])
    }

    @Test func noBlocksOnlyExtras() throws {
        let group = ThreadGroup(size: 2)
        let totals = group.run { communicator throws -> [Float] in
            let sum = ExactAllReduce<Extra>(blocks: [], terms: 4, parts: 1, termsPerPart: 2, communicator: communicator)
            sum.start()
            for value: Float in [1.5, -0.25] {
                let term = sum.parts[0].nextTerm()
                term[.first] = value * Float(communicator.rank + 1)
                term[.second] = 3
                #expect(sum.parts[0].add(term))
            }
            #expect(try sum.reduce(marks: []).isEmpty)
            return [sum.total(.first), sum.total(.second)]
        }
        #expect(totals == [[3.75, 12], [3.75, 12]])
    }
}

/// `size` ranks in one process, one thread each; a collective returns once every rank has
/// brought its buffer.
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0, round = 0
    private var accumulated: [Int64] = [], result: [Int64] = []

    init(size: Int) { self.size = size }

    /// Runs `body` on every rank at once and returns the ranks' results in rank order.
    func run<T>(_ body: @escaping (Communicator) throws -> T) -> [T] {
        nonisolated(unsafe) var results = [T?](repeating: nil, count: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            nonisolated(unsafe) let body = body
            Thread {
                do {
                    results[rank] = try body(Rank(group: self, rank: rank))
                } catch {
                    Issue.record("rank \(rank): \(error)")
                }
                done.leave()
            }.start()
        }
        done.wait()
        return results.map { $0! }
    }

    /// Combines int32 buffers in int64, then wraps the result as MPI's int32 sum would.
    fileprivate func combine(_ buffer: UnsafeMutableBufferPointer<Int32>, _ op: (Int64, Int64) -> Int64) {
        var wide = buffer.map(Int64.init)
        wide.withUnsafeMutableBufferPointer { combine($0, op) }
        for i in buffer.indices { buffer[i] = Int32(truncatingIfNeeded: wide[i]) }
    }

    fileprivate func combine(_ buffer: UnsafeMutableBufferPointer<Int64>, _ op: (Int64, Int64) -> Int64) {
        condition.lock()
        defer { condition.unlock() }
        accumulated = arrived == 0 ? Array(buffer) : zip(accumulated, buffer).map(op)
        arrived += 1
        if arrived == size {
            (result, arrived) = (accumulated, 0)
            round += 1
            condition.broadcast()
        } else {
            let mine = round
            while round == mine { condition.wait() }
        }
        _ = buffer.update(from: result)
    }

    private final class Rank: Communicator {
        let group: ThreadGroup
        let rank: Int
        var size: Int { group.size }
        var timeouts = CollectiveTimeouts()
        var acceptsCallsFromAnyThread: Bool { true }
        var spansMachines: Bool { true }
        init(group: ThreadGroup, rank: Int) { (self.group, self.rank) = (group, rank) }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws { group.combine(buffer, &+) }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int32>, label: String) throws { group.combine(buffer, &+) }
        func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws { group.combine(buffer, max) }
        func expectSlowPeers() {}
        func abort(code: Int32) -> Never { fatalError("abort \(code)") }
        func finalize() {}
    }
}

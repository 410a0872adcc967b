#if canImport(Glibc)
import Glibc
#endif
import Kernels
import Synchronization

/// How a rank's threads lend themselves to each other within a step: a thread with no
/// micro-batch left takes pieces of the layers of those still computing theirs (`Helpers`), so
/// that the step does not wait on one thread's last micro-batch while the others idle.
public final class ThreadHelp: Sendable {
    /// One board a thread: where it offers pieces of its micro-batch.
    public let boards: [Board]
    private let counts = Counts()

    /// Threads waiting for pieces, and threads computing work of their own.
    fileprivate final class Counts: Sendable {
        let waiting = Atomic<Int>(0), computing = Atomic<Int>(0)
    }

    public init(threads: Int) {
        let counts = counts
        boards = (0..<threads).map { _ in Board(counts: counts) }
    }

    /// Runs `work`, thread `thread`'s own part of a step, then takes pieces that the others
    /// offer until none of them computes its own. A thread that starts once the others are
    /// done helps nobody: so none waits on a thread that has not started (the threads of a
    /// concurrent loop may run one after another). It spins while a step is short of work,
    /// then naps, so that ranks sharing cores with it keep them.
    public func compute(as thread: Int, _ work: () -> Void) {
        counts.computing.add(1, ordering: .sequentiallyConsistent)
        work()
        counts.computing.subtract(1, ordering: .sequentiallyConsistent)
        counts.waiting.add(1, ordering: .sequentiallyConsistent)
        var idle = 0
        while counts.computing.load(ordering: .sequentiallyConsistent) > 0 {
            var helped = false
            for (b, board) in boards.enumerated() where b != thread {
                while board.computeOne() { helped = true }
            }
            if helped {
                idle = 0
            } else {
                idle += 1
                if idle < 1000 { sched_yield() } else { usleep(100) }
            }
        }
        counts.waiting.subtract(1, ordering: .sequentiallyConsistent)
    }

    /// One thread's offer: the pieces of one layer at a time.
    public final class Board: Helpers, @unchecked Sendable {
        private let counts: Counts
        /// The offer's number, its count of pieces and the next piece nobody took, in one word:
        /// a thread takes a piece by raising the last, so a piece of an old offer cannot be taken.
        private let offer = Atomic<UInt64>(0)
        /// Pieces of the offer that helpers have computed.
        private let computed = Atomic<Int>(0)
        /// The offer's pieces: set before the offer is made, kept until its last piece is done.
        private var piece: ((Int) -> Void)?
        private var number: UInt64 = 0

        fileprivate init(counts: Counts) { self.counts = counts }

        public var areWaiting: Bool { counts.waiting.load(ordering: .relaxed) > 0 }

        public func share(pieces count: Int, _ piece: (Int) -> Void) {
            precondition(count < 1 << 16, "an offer holds fewer than 65,536 pieces")
            withoutActuallyEscaping(piece) { piece in
                self.piece = piece
                computed.store(0, ordering: .relaxed)
                number += 1
                offer.store(number << 32 | UInt64(count) << 16, ordering: .releasing)
                var mine = 0
                while let i = take() {
                    piece(i)
                    mine += 1
                }
                while computed.load(ordering: .acquiring) < count - mine { sched_yield() }
                self.piece = nil
            }
        }

        /// Computes a piece on offer, if there is one.
        fileprivate func computeOne() -> Bool {
            guard let i = take() else { return false }
            compute(i)
            computed.add(1, ordering: .releasing)
            return true
        }

        /// Out of line, so that this thread's hold on the offer's closure ends before the piece
        /// counts as computed: the offering thread then checks that the closure did not escape.
        @inline(never) private func compute(_ i: Int) { piece!(i) }

        private func take() -> Int? {
            var word = offer.load(ordering: .acquiring)
            while true {
                let next = word & 0xffff, count = word >> 16 & 0xffff
                guard next < count else { return nil }
                let (exchanged, original) = offer.compareExchange(expected: word, desired: word + 1,
                                                                  ordering: .acquiringAndReleasing)
                if exchanged { return Int(next) }
                word = original
            }
        }
    }
}

import Dispatch
import Foundation

/// One thread of its own that runs one closure a round: `run` hands it the round's work and
/// returns at once, `wait` waits for that work to finish. One thread rather than a queue's, so
/// that what `prepare` sets for it (its scheduling) holds for every round.
final class RoundThread: @unchecked Sendable {
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

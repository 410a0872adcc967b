import Foundation
import Synchronization
import Testing
import Training

/// The threads' help within a step: a thread with nothing left takes pieces of another's
/// offer, each piece runs once, the offering thread returns only when all are done, and the
/// helper leaves once no thread computes its own work. Nothing here waits on a clock: the
/// first piece the offering thread takes holds it until the helper has computed another.
struct ThreadHelpTests {
    @Test func aWaitingThreadTakesPiecesAndTheOfferEndsWhenAllAreDone() {
        let help = ThreadHelp(threads: 2)
        let helperLeft = DispatchSemaphore(value: 0)
        for round in 0..<3 {
            let count = 40 + round
            let runs = Mutex([Int](repeating: 0, count: count))
            let byHelper = Atomic<Int>(0), held = Atomic<Bool>(false)
            help.compute(as: 0) {
                Thread {
                    help.compute(as: 1) {}
                    helperLeft.signal()
                }.start()
                while !help.boards[0].areWaiting { sched_yield() }
                let owner = pthread_self()
                help.boards[0].share(pieces: count) { i in
                    if pthread_equal(pthread_self(), owner) == 0 {
                        byHelper.add(1, ordering: .sequentiallyConsistent)
                    } else if !held.exchange(true, ordering: .sequentiallyConsistent) {
                        while byHelper.load(ordering: .sequentiallyConsistent) == 0 { sched_yield() }
                    }
                    runs.withLock { $0[i] += 1 }
                }
                #expect(runs.withLock { $0 } == Array(repeating: 1, count: count), "round \(round): a piece ran other than once")
            }
            helperLeft.wait()
            #expect(byHelper.load(ordering: .sequentiallyConsistent) > 0, "round \(round): the helper took no piece")
        }
    }

    /// Threads of a concurrent loop may run one after another: one that starts once the others
    /// are done neither waits for them nor for help.
    @Test func threadsThatRunOneAfterAnotherDoNotWaitForEachOther() {
        let help = ThreadHelp(threads: 3)
        var order: [Int] = []
        for thread in 0..<3 {
            help.compute(as: thread) {
                help.boards[thread].share(pieces: 2) { order.append(thread * 10 + $0) }
            }
        }
        #expect(order == [0, 1, 10, 11, 20, 21])
    }
}

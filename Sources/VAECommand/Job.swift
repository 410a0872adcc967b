import Distributed
import Foundation
import Training

/// Runs a command as one rank of a job (or as the only process), so that a failure ends the
/// whole job with one message instead of leaving the other ranks waiting in a collective.
enum Job {
    static func run(timeouts: CollectiveTimeouts, _ body: (Communicator) throws -> Void) throws {
        let communicator = try Communicators.forThisProcess(timeouts: timeouts, silentStatus: Train.timedOutStatus)
        do {
            try body(communicator)
            // Rank 0 may still be writing outputs: the others wait for it here, where a wait has
            // a deadline, rather than in MPI_Finalize, where it has none.
            var done: [Int64] = [0]
            communicator.expectSlowPeers()
            try done.withUnsafeMutableBufferPointer { try communicator.allReduceMax($0, label: "end of the run") }
            communicator.finalize()
        } catch {
            guard communicator.size > 1 else { throw error }
            switch error {
            case is CollectiveTimeout:
                // A peer may be frozen with the collective half done, or silent: only an abort
                // ends the job.
                Console.note(String(describing: error))
                communicator.abort(code: Train.timedOutStatus)
            case is AgreedFailure:
                // Every rank saw it: rank 0 reports, all stop cleanly.
                if communicator.isRoot { Console.note(String(describing: error)) }
                communicator.finalize()
                exit(1)
            case let failure as CollectiveFailure:
                // Every rank knows; those that failed say why (rank 0 alone if all say the same).
                if failure.sameOnEveryRank {
                    if communicator.isRoot, let local = failure.local { Console.note(String(describing: local)) }
                } else if let local = failure.local {
                    Console.note((communicator.isRoot ? "" : "rank \(communicator.rank): ") + String(describing: local))
                }
                communicator.finalize()
                exit(1)
            default:
                break
            }
            // One rank failed alone: say which, and take the job down with it.
            Console.note("rank \(communicator.rank): \(error)")
            communicator.abort(code: 1)
        }
    }
}

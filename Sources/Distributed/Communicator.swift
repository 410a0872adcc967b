import Foundation

/// The collectives data-parallel training needs, over a fixed group of ranks.
/// Integer buffers only: gradients travel as exact fixed-point integers (see `BlockExactSum`),
/// so that a sum does not depend on the order MPI combines ranks in.
///
/// No collective waits forever: each has a deadline (`timeouts`), and a rank that stops answering
/// altogether is found by its heartbeats; either throws `CollectiveTimeout`, after which the job
/// must be aborted (the collective is still pending).
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Fixed at start-up (the heartbeats and MPI's start-up need them first).
    var timeouts: CollectiveTimeouts { get }
    /// Whether collectives may be called from any thread (never two at once): what lets a sum
    /// run beside the computation (`ExactAllReduce`'s early groups).
    var acceptsCallsFromAnyThread: Bool { get }
    /// Whether the ranks run on more than one machine, where a sum takes long enough to be worth
    /// running beside the computation (in shared memory it takes a fraction of a millisecond).
    var spansMachines: Bool { get }
    /// Counters that every rank shares and changes atomically, without a collective, or nil
    /// when the ranks do not all share this machine's memory (or there is one): what lets ranks
    /// take work as they come free. A frozen rank never blocks the others' use of them.
    var sharedCounters: SharedCounters? { get }
    /// Readies the calling thread to wait in collectives beside busy threads (those of the
    /// computation), so that it runs as soon as it wakes to move a collective on.
    func prepareThreadForCollectives()
    /// Element-wise sum over all ranks, in place; `label` names the collective in a timeout.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws
    /// The same in 32-bit integers (the exact sum's narrow encoding, half the bytes).
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int32>, label: String) throws
    /// Element-wise maximum over all ranks, in place.
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws
    /// The next collective may wait while a rank works on files (rank 0 writing an epoch's
    /// metrics, outputs and checkpoint): it gets `timeouts.slow`. Start-up (every rank loading
    /// its data) does too.
    func expectSlowPeers()
    /// Ends every rank of the job at once (one rank's failure would otherwise hang the others).
    func abort(code: Int32) -> Never
    func finalize()
    /// A fault for tests: the next collective labelled `label` stops this process (SIGSTOP) once
    /// it has entered it, as a node hanging mid-sum would.
    func stopInside(nextCollective label: String)
}

/// How long a rank waits for the others.
public struct CollectiveTimeouts: Sendable, Equatable {
    /// A collective of a training step, where ranks wait at most for another's share of a step.
    public var normal: Double
    /// MPI's start-up, and the first collective after start-up or after an epoch's end is written.
    public var slow: Double
    /// How long a rank's heartbeats may stop before it counts as frozen, dead or cut off.
    public var heartbeat: Double
    public init(normal: Double = 120, slow: Double = 600, heartbeat: Double = 10) {
        self.normal = normal
        self.slow = slow
        self.heartbeat = heartbeat
    }
}

/// A collective that could not complete: a rank froze, died without its launcher noticing, or
/// lost its link (its heartbeats stopped), or it is alive but too slow (the deadline passed).
public struct CollectiveTimeout: Error, CustomStringConvertible, Sendable {
    public enum Cause: Sendable, Equatable {
        /// The deadline passed: the ranks that never entered the collective, as rank 0 knows
        /// them (nil on other ranks).
        case deadline(absent: [Int]?)
        /// These ranks' heartbeats stopped (rank 0 hears every rank, the others rank 0), and the
        /// hosts they run on.
        case silence(ranks: [Int], hosts: [String])
    }

    public let label: String
    public let seconds: Double
    public let rank: Int
    public let cause: Cause
    /// Where the run was (" of step 14 (epoch 2)") and what it keeps ("; ..."), added by the
    /// trainer.
    public var context = "", note = ""

    public init(label: String, seconds: Double, rank: Int, cause: Cause) {
        self.label = label
        self.seconds = seconds
        self.rank = rank
        self.cause = cause
    }

    public var description: String {
        let waited = Self.text(seconds: seconds)
        let speaker = rank == 0 ? "" : "rank \(rank): "
        switch cause {
        case .silence(let ranks, let hosts):
            let whom = (ranks.count == 1 ? "rank " : "ranks ") + ranks.map(String.init).joined(separator: ", ")
            let places = hosts.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }.joined(separator: ", ")
            return speaker + "\(whom) did not answer for \(waited) s (no heartbeat from \(places): frozen, dead or cut off), found in the \(label)\(context)\(note)"
        case .deadline(let absent):
            let whom: String = switch absent {
            case nil: "rank 0, which alone knows which ranks did not answer, has not reported (it may be one of them)"
            case let absent? where absent.isEmpty: "every rank entered it, and one stopped answering inside it"
            case let absent?: (absent.count == 1 ? "rank " : "ranks ") + absent.map(String.init).joined(separator: ", ") + " did not answer"
            }
            return speaker + "no answer within \(waited) s in the \(label)\(context): \(whom)\(note)"
        }
    }

    /// Seconds as a message gives them: "3", "2.5".
    static func text(seconds: Double) -> String {
        seconds.rounded() == seconds ? "\(Int(seconds))" : "\(seconds)"
    }
}

/// `VAE_MPI_COUNTERS` counters in memory that the ranks of one machine share; each starts at 0.
public protocol SharedCounters: AnyObject, Sendable {
    /// Adds `amount` to counter `counter` and returns its value before.
    func add(_ amount: Int, to counter: Int) -> Int
    func load(_ counter: Int) -> Int
    func store(_ value: Int, in counter: Int)
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public var sharedCounters: SharedCounters? { nil }

    public func prepareThreadForCollectives() {}

    public func stopInside(nextCollective label: String) {}

    /// Whether every rank holds the same `value` (one collective: max of v and of -v).
    public func allAgree(on value: Int64, label: String) throws -> Bool {
        var pair: [Int64] = [value, value == .min ? .max : -value]
        try pair.withUnsafeMutableBufferPointer { try allReduceMax($0, label: label) }
        return pair[0] == value && pair[1] == (value == .min ? .max : -value)
    }
}

/// A failure every rank detects together (from a collective's result), so every rank stops
/// cleanly and rank 0 alone reports it.
public struct AgreedFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A step that failed on some ranks, known to all: `local` is this rank's own error, if any.
public struct CollectiveFailure: Error, CustomStringConvertible {
    public let local: Error?
    /// Every rank failed with the same message (bad flags, say): one of them is enough to say it.
    public let sameOnEveryRank: Bool
    public var description: String { local.map { String(describing: $0) } ?? "failed on another rank" }
}

extension Communicator {
    /// Runs `body` on every rank, then agrees on whether it failed anywhere, so that a rank
    /// that fails (bad input on its node, say) stops the others instead of leaving them
    /// waiting in the next collective. One process just runs `body`.
    public func collectively<T>(_ label: String, _ body: () throws -> T) throws -> T {
        guard size > 1 else { return try body() }
        let outcome = Result { try body() }
        let local: Error? = if case .failure(let error) = outcome { error } else { nil }
        var failed: [Int64] = [local == nil ? 0 : 1]
        try failed.withUnsafeMutableBufferPointer { try allReduceSum($0, label: label) }
        guard failed[0] != 0 else { return try outcome.get() }
        let message = local.map { String(describing: $0) } ?? ""
        let same = try allAgree(on: stableChecksum(message.utf8), label: label) && failed[0] == size
        throw CollectiveFailure(local: local, sameOnEveryRank: same)
    }
}

/// A communication failure, with MPI's own message.
public struct CommunicatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The world of one process: collectives are identities. Used when the binary was not started
/// by an MPI launcher, so that it needs no MPI start-up at all.
public final class SingleProcess: Communicator {
    public init(timeouts: CollectiveTimeouts = CollectiveTimeouts()) { self.timeouts = timeouts }
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public let timeouts: CollectiveTimeouts
    /// Nothing to overlap: the collectives are identities.
    public var acceptsCallsFromAnyThread: Bool { false }
    public var spansMachines: Bool { false }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int32>, label: String) throws {}
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws {}
    public func expectSlowPeers() {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func finalize() {}
}

public enum Communicators {
    /// MPI when an MPI launcher (mpirun, srun) started this process, else a single process.
    /// `silentStatus`: the exit status when a rank does not answer (see `MPICommunicator`).
    public static func forThisProcess(timeouts: CollectiveTimeouts, silentStatus: Int32,
                                      environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Communicator {
        MPICommunicator.isLaunchedByMPI(environment)
            ? try MPICommunicator(timeouts: timeouts, silentStatus: silentStatus, environment: environment)
            : SingleProcess(timeouts: timeouts)
    }
}

/// FNV-1a over bytes: a checksum that is the same in every process (Swift's `Hasher` is
/// seeded per process), for comparing configurations and parameters across ranks.
public func stableChecksum<S: Sequence>(_ bytes: S) -> Int64 where S.Element == UInt8 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    return Int64(bitPattern: hash)
}

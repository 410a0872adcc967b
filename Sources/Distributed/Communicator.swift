import Foundation

/// The collectives data-parallel training needs, over a fixed group of ranks.
/// Integer buffers only: gradients travel as exact fixed-point integers (see `BlockExactSum`),
/// so that a sum does not depend on the order MPI combines ranks in.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over all ranks, in place.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// Element-wise maximum over all ranks, in place.
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// Copies `root`'s bytes into every rank's buffer.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    func barrier() throws
    /// Ends every rank of the job at once (one rank's failure would otherwise hang the others).
    func abort(code: Int32) -> Never
    func finalize()
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Whether every rank holds the same `value` (one collective: max of v and of -v).
    public func allAgree(on value: Int64) throws -> Bool {
        var pair: [Int64] = [value, value == .min ? .max : -value]
        try pair.withUnsafeMutableBufferPointer { try allReduceMax($0) }
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
    public func collectively<T>(_ body: () throws -> T) throws -> T {
        guard size > 1 else { return try body() }
        let outcome = Result { try body() }
        let local: Error? = if case .failure(let error) = outcome { error } else { nil }
        var failed: [Int64] = [local == nil ? 0 : 1]
        try failed.withUnsafeMutableBufferPointer { try allReduceSum($0) }
        guard failed[0] != 0 else { return try outcome.get() }
        let message = local.map { String(describing: $0) } ?? ""
        let same = try allAgree(on: stableChecksum(message.utf8)) && failed[0] == size
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
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func barrier() throws {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func finalize() {}
}

public enum Communicators {
    /// MPI when an MPI launcher (mpirun, srun) started this process, else a single process.
    public static func forThisProcess(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Communicator {
        MPICommunicator.isLaunchedByMPI(environment) ? try MPICommunicator() : SingleProcess()
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

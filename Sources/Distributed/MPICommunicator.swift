import Foundation
import MPIShim

/// MPI_COMM_WORLD through the C shim. Errors come back as codes (MPI_ERRORS_RETURN) and are
/// thrown with MPI's message; a collective past its deadline throws `CollectiveTimeout`.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public var timeouts = CollectiveTimeouts()
    public let acceptsCallsFromAnyThread: Bool
    public let spansMachines: Bool
    /// Start-up waits for every rank to load its data.
    private var slowNext = true

    /// Rank r waits r times this much longer than rank 0 (up to 4 times), so that when a rank is
    /// missing, one rank reports it and ends the job: rank 0, which alone knows who did not
    /// come, or else the lowest rank still answering.
    static let reportingGrace = 2.0

    /// Set by Open MPI's mpirun, by PMI-based launchers (MPICH's, Slurm's srun) or by PMIx.
    public static func isLaunchedByMPI(_ environment: [String: String]) -> Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { environment[$0] != nil }
    }

    /// This process's rank as its launcher announced it, before MPI starts (nil without one).
    public static func launcherRank(_ environment: [String: String]) -> Int? {
        ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"].lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
    }

    public init() throws {
        var anyThread: Int32 = 0, oneMachine: Int32 = 0
        try Self.check(vae_mpi_init(&anyThread, &oneMachine), "MPI_Init")
        acceptsCallsFromAnyThread = anyThread != 0
        spansMachines = oneMachine == 0
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(vae_mpi_rank(&rank), "MPI_Comm_rank")
        try Self.check(vae_mpi_size(&size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws {
        try allReduce(label: label) { vae_mpi_allreduce_int64(buffer.baseAddress, buffer.count, vae_mpi_sum, $0, $1, $2) }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int32>, label: String) throws {
        try allReduce(label: label) { vae_mpi_allreduce_int32(buffer.baseAddress, buffer.count, vae_mpi_sum, $0, $1, $2) }
    }

    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>, label: String) throws {
        try allReduce(label: label) { vae_mpi_allreduce_int64(buffer.baseAddress, buffer.count, vae_mpi_max, $0, $1, $2) }
    }

    public func expectSlowPeers() { slowNext = true }

    public func prepareThreadForCollectives() { vae_mpi_prefer_prompt_wakeups() }

    /// Runs one of the shim's all-reduces, given its deadline and room for the absent ranks.
    private func allReduce(label: String, _ run: (Double, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32) throws {
        let seconds = (slowNext ? timeouts.slow : timeouts.normal) + Self.reportingGrace * Double(min(rank, 4))
        slowNext = false
        var absent = [Int32](repeating: 0, count: size), absentCount: Int32 = 0
        let code = run(seconds, &absent, &absentCount)
        if code == VAE_MPI_TIMED_OUT {
            throw CollectiveTimeout(label: label, seconds: seconds, rank: rank,
                                    absent: absentCount < 0 ? nil : absent.prefix(Int(absentCount)).map(Int.init))
        }
        try Self.check(code, label)
    }

    public func abort(code: Int32) -> Never {
        _ = vae_mpi_abort(code)
        exit(code)
    }

    public func finalize() {
        _ = vae_mpi_finalize()
    }

    private static func check(_ code: Int32, _ what: String) throws {
        guard code != 0 else { return }
        var message = [CChar](repeating: 0, count: 512)
        vae_mpi_error_string(code, &message, message.count)
        throw CommunicatorError("MPI \(what) failed: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
    }
}

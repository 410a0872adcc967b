import Foundation
import MPIShim

/// MPI_COMM_WORLD through the C shim. Errors come back as codes (MPI_ERRORS_RETURN) and are
/// thrown with MPI's message; a collective past its deadline, or one that a silent rank's
/// stopped heartbeats end, throws `CollectiveTimeout`. MPI's start-up has a deadline too
/// (`timeouts.slow`): past it, this process says so and exits with `silentStatus`.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let timeouts: CollectiveTimeouts
    public let acceptsCallsFromAnyThread: Bool
    public let spansMachines: Bool
    public let sharedCounters: SharedCounters?
    /// Start-up waits for every rank to load its data.
    private var slowNext = true

    /// Rank r waits r times this much longer than rank 0 (up to 4 times), so that when a rank is
    /// missing, one rank reports it and ends the job: rank 0, which alone knows who did not
    /// come, or else the lowest rank still answering. The same for heartbeats and start-up.
    static let reportingGrace = 2.0

    private static func grace(rank: Int) -> Double { reportingGrace * Double(min(rank, 4)) }

    /// The heartbeat timeout as this rank applies it.
    private var heartbeatSeconds: Double { timeouts.heartbeat + Self.grace(rank: rank) }

    /// Set by Open MPI's mpirun, by PMI-based launchers (MPICH's, Slurm's srun) or by PMIx.
    public static func isLaunchedByMPI(_ environment: [String: String]) -> Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { environment[$0] != nil }
    }

    /// This process's rank as its launcher announced it, before MPI starts (nil without one).
    public static func launcherRank(_ environment: [String: String]) -> Int? {
        ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"].lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
    }

    public init(timeouts: CollectiveTimeouts, silentStatus: Int32,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.timeouts = timeouts
        // Before MPI_Init the rank is the launcher's.
        let launched = Self.launcherRank(environment) ?? 0
        let startup = timeouts.slow + Self.grace(rank: launched)
        let message = "vae: " + (launched == 0 ? "" : "rank \(launched): ")
            + "MPI start-up did not complete within \(CollectiveTimeout.text(seconds: startup)) s (see --slow-collective-timeout): a rank hangs before or inside MPI_Init (its host frozen, unreachable or slow to start it); nothing was trained"
        var anyThread: Int32 = 0, oneMachine: Int32 = 0
        let code = message.withCString { message in
            // A beat a second (more often for short timeouts): a timeout of 10 s is ten missed beats.
            var liveness = vae_mpi_liveness(startup_seconds: startup, startup_message: message,
                                            heartbeat_seconds: timeouts.heartbeat + Self.grace(rank: launched),
                                            heartbeat_interval: min(1, timeouts.heartbeat / 5), exit_status: silentStatus)
            return vae_mpi_init(&liveness, &anyThread, &oneMachine)
        }
        try Self.check(code, "MPI_Init")
        acceptsCallsFromAnyThread = anyThread != 0
        spansMachines = oneMachine == 0
        sharedCounters = vae_mpi_has_shared_counters() != 0 ? MachineCounters() : nil
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

    private var stopLabel: String?

    public func stopInside(nextCollective label: String) { stopLabel = label }

    /// Runs one of the shim's all-reduces, given its deadline and room for the absent ranks.
    private func allReduce(label: String, _ run: (Double, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32) throws {
        let seconds = (slowNext ? timeouts.slow : timeouts.normal) + Self.grace(rank: rank)
        slowNext = false
        if stopLabel == label {
            stopLabel = nil
            vae_mpi_stop_inside_next_collective()
        }
        var absent = [Int32](repeating: 0, count: size), absentCount: Int32 = 0
        let code = run(seconds, &absent, &absentCount)
        switch code {
        case VAE_MPI_TIMED_OUT:
            throw CollectiveTimeout(label: label, seconds: seconds, rank: rank,
                                    cause: .deadline(absent: absentCount < 0 ? nil : absent.prefix(Int(absentCount)).map(Int.init)))
        case VAE_MPI_PEER_SILENT:
            var silent = [Int32](repeating: 0, count: size)
            let count = Int(vae_mpi_silent_ranks(&silent))
            let ranks = silent.prefix(count).map(Int.init)
            throw CollectiveTimeout(label: label, seconds: heartbeatSeconds, rank: rank,
                                    cause: .silence(ranks: ranks, hosts: ranks.map(Self.host(of:))))
        default:
            try Self.check(code, label)
        }
    }

    public func abort(code: Int32) -> Never {
        _ = vae_mpi_abort(code)
        exit(code)
    }

    public func finalize() {
        _ = vae_mpi_finalize()
    }

    /// The shim's counters in a window of the machine's shared memory.
    final class MachineCounters: SharedCounters {
        func add(_ amount: Int, to counter: Int) -> Int { Int(vae_mpi_counter_add(Int32(counter), Int64(amount))) }
        func load(_ counter: Int) -> Int { Int(vae_mpi_counter_load(Int32(counter))) }
        func store(_ value: Int, in counter: Int) { vae_mpi_counter_store(Int32(counter), Int64(value)) }
    }

    /// The host `rank` runs on, as MPI names it.
    private static func host(of rank: Int) -> String {
        var name = [CChar](repeating: 0, count: 256)
        vae_mpi_host(Int32(rank), &name, name.count)
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func check(_ code: Int32, _ what: String) throws {
        guard code != 0 else { return }
        var message = [CChar](repeating: 0, count: 512)
        vae_mpi_error_string(code, &message, message.count)
        throw CommunicatorError("MPI \(what) failed: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
    }
}

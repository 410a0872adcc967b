import Foundation
import Testing

/// `launch/slurm.sbatch` under a real Slurm: a private one-node cluster (`Tests/Slurm/cluster`:
/// munged, slurmctld and slurmd with their files in a temporary folder and ports of their own),
/// two ranks through `mpirun` inside the allocation. The job is stopped mid-run as Slurm stops
/// it before its time limit (SIGUSR1 to the batch script), or loses a rank (frozen); it must be
/// requeued under the same job id, resume from its checkpoint and end with the one-process
/// parameters, bit for bit.
@Suite(.serialized)
struct SlurmTests {
    static let clusterScript = VAEProcess.repository.appendingPathComponent("Tests/Slurm/cluster")
    static let batchScript = VAEProcess.repository.appendingPathComponent("launch/slurm.sbatch")

    /// Root (the daemons run as root) and Debian's slurmctld, slurmd, slurm-client and munge.
    static let slurmInstalled: Bool = {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin"
        let folders = path.split(separator: ":").map(String.init)
        return getuid() == 0 && ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo"].allSatisfy { tool in
            folders.contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
    }()

    /// A running private cluster; `stop()` ends its jobs and daemons.
    final class Cluster {
        let folder: URL
        var environment: [String: String] { ["SLURM_CONF": folder.appendingPathComponent("slurm.conf").path,
                                             "PATH": (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"] }

        init() throws {
            folder = try VAEProcess.temporaryDirectory()
            let started = try VAEProcess.start(SlurmTests.clusterScript, ["start", folder.path]).wait()
            guard started.status == 0 else {
                try? FileManager.default.removeItem(at: folder)
                throw SetupError(description: "Tests/Slurm/cluster start: \(started.stderr)")
            }
        }

        func stop() {
            _ = try? VAEProcess.start(SlurmTests.clusterScript, ["stop", folder.path]).wait()
            try? FileManager.default.removeItem(at: folder)
        }

        /// A Slurm command against this cluster.
        func run(_ command: String, _ arguments: [String], in directory: URL? = nil) throws -> VAEProcess.Result {
            try VAEProcess.start(URL(fileURLWithPath: "/usr/bin/env"), [command] + arguments, in: directory, environment: environment).wait()
        }

        /// `scontrol show job`'s fields (JobState, Restarts, ExitCode, ...).
        func job(_ id: String) throws -> [String: String] {
            let shown = try run("scontrol", ["--oneliner", "show", "job", id])
            var fields: [String: String] = [:]
            for field in shown.stdout.split(whereSeparator: \.isWhitespace) {
                guard let equals = field.firstIndex(of: "=") else { continue }
                fields[String(field[..<equals])] = String(field[field.index(after: equals)...])
            }
            return fields
        }

        /// Waits for the job to end for good (not requeued), failing after `seconds`.
        func waitForEnd(of id: String, seconds: Double = 300) throws -> [String: String] {
            let deadline = Date().addingTimeInterval(seconds)
            while true {
                let fields = try job(id)
                if let state = fields["JobState"], ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"].contains(state) {
                    return fields
                }
                guard Date() < deadline else { throw SetupError(description: "job \(id) still \(fields["JobState"] ?? "?") after \(seconds) s") }
                usleep(200_000)
            }
        }
    }

    struct SetupError: Error, CustomStringConvertible { let description: String }

    /// A folder to submit from: the script runs `.build/release/vae` from there and trains into
    /// `runs/slurm-JOBID` there.
    static func submitFolder() throws -> URL {
        let folder = try VAEProcess.temporaryDirectory()
        let release = folder.appendingPathComponent(".build/release")
        try FileManager.default.createDirectory(at: release, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: release.appendingPathComponent("vae"), withDestinationURL: VAEProcess.executable)
        return folder
    }

    /// The process id of rank `rank` of the job training in `folder` (its run directory is
    /// relative there).
    static func rankProcess(_ rank: Int, job id: String, in folder: URL) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries.compactMap(Int32.init) {
            guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
                  let directory = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else { continue }
            let arguments = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.first?.hasSuffix("/vae") == true, arguments.contains("runs/slurm-\(id)"),
               directory == folder.resolvingSymlinksInPath().path, variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") {
                return pid
            }
        }
        return nil
    }

    enum Fault: String, CaseIterable { case timeLimitSignal, frozenRank }

    /// The 6-epoch job of `ReliabilityTests` (60 steps, a checkpoint every 4), submitted as a
    /// user would, on one node of two cores (the script asks for two nodes). Once step 8 is saved
    /// it is stopped as Slurm stops it two minutes before its time limit (`scancel --signal=USR1
    /// --batch`: SIGUSR1 to the batch script alone), or rank 1 is frozen (`kill -STOP`, its node
    /// hung). Either way the first attempt ends (75 after a step saved, or 69 after the
    /// collective timeout), the script requeues the job, and the second attempt, same job id,
    /// resumes from the newest checkpoint and finishes with the one-process parameters.
    @Test(.enabled(if: slurmInstalled, "needs root and Debian's slurmctld, slurmd, slurm-client and munge"),
          arguments: Fault.allCases)
    func aStoppedOrFailedJobIsRequeuedAndResumesToTheOneProcessResult(fault: Fault) throws {
        let cluster = try Cluster()
        defer { cluster.stop() }
        let folder = try Self.submitFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let flags = ReliabilityTests.job + (fault == .frozenRank ? ReliabilityTests.timeouts : [])
        let submitted = try cluster.run("sbatch", ["--parsable", "--nodes=1", "--ntasks-per-node=2", Self.batchScript.path] + flags, in: folder)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = try #require(submitted.stdout.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) })
        let run = folder.appendingPathComponent("runs/slurm-\(id)")

        try ReliabilityTests.waitFor(run.appendingPathComponent("checkpoints/step-000000008.safetensors"))
        var frozen: Int32?
        switch fault {
        case .timeLimitSignal:
            let signalled = try cluster.run("scancel", ["--signal=USR1", "--batch", id])
            #expect(signalled.status == 0, "\(signalled.stderr)")
        case .frozenRank:
            let rank = try #require(Self.rankProcess(1, job: id, in: folder), "rank 1 of job \(id) not found")
            kill(rank, SIGSTOP)
            frozen = rank
        }
        defer { if let frozen, Self.rankProcess(1, job: id, in: folder) == frozen { kill(frozen, SIGKILL) } }

        let ended = try cluster.waitForEnd(of: id)
        let output = (try? String(contentsOf: folder.appendingPathComponent("vae-\(id).out"), encoding: .utf8)) ?? ""
        #expect(ended["JobState"] == "COMPLETED" && ended["ExitCode"] == "0:0", "\(ended): \(output)")
        #expect(ended["Restarts"] == "1", "requeued once: \(ended)")
        // Both attempts in the one output file: two ranks in the allocation, the first attempt's
        // end, the requeue, the second attempt resuming in the same run directory.
        #expect(output.components(separatedBy: "2 rank(s)").count == 3, "\(output)")
        let status = fault == .timeLimitSignal ? 75 : 69
        #expect(output.contains("slurm.sbatch: vae train exited \(status); requeueing job \(id)"), "\(output)")
        switch fault {
        case .timeLimitSignal:
            #expect(output.contains("vae: interrupted: stopped after step"), "\(output)")
        case .frozenRank:
            #expect(output.contains("rank 1 did not answer"), "\(output)")
        }
        #expect(output.contains("resuming from") && output.contains("slurm-\(id)/checkpoints/step-"), "\(output)")
        try ReliabilityTests.expectOnlyValidCheckpoints(run)
        try ReliabilityTests.expectFinalTensorsAreTheReference(run)
    }
}

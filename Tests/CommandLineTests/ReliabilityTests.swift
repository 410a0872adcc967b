import Checkpoint
import Foundation
import Testing

/// Faults of real processes: signals, a killed rank, a crash while saving, a blown-up gradient
/// and a full disk. Each ends with one clear message, keeps the last good checkpoint, and where
/// the run can go on, going on gives the uninterrupted result bit for bit.
@Suite(.serialized)
struct ReliabilityTests {
    /// 6 epochs of 10 steps (600 images, batch 64), a checkpoint every 4 steps: long enough that
    /// a signal sent once step 4 is saved arrives mid-run.
    static let job = ["--limit", "600", "--batch-size", "64", "--test-images", "100", "--epochs", "6", "--checkpoint-every", "4"]
    static let finalCheckpoint = "checkpoints/step-000000060.safetensors"

    /// The uninterrupted run every other run is compared with.
    static let reference: URL = {
        let folder = try! VAEProcess.temporaryDirectory()
        let result = try! VAEProcess.run(["train", "--run-dir", folder.path] + job)
        precondition(result.status == 0, result.stderr)
        return folder
    }()

    static let launchTrain = VAEProcess.repository.appendingPathComponent("launch/train")

    /// Waits for `url` to exist (polling), failing after `seconds`.
    static func waitFor(_ url: URL, seconds: Double = 120) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !FileManager.default.fileExists(atPath: url.path) {
            guard Date() < deadline else { throw CancellationError() }
            usleep(10_000)
        }
    }

    static func tensors(_ url: URL) throws -> [String: [UInt32]] {
        let file = try SafeTensors.read(url, requireChecksum: true)
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.values(of: $0).map(\.bitPattern)) })
    }

    /// Every file in a run's checkpoints folder is a whole, verified checkpoint.
    static func expectOnlyValidCheckpoints(_ run: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = run.appendingPathComponent("checkpoints")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            #expect(name.hasPrefix("step-"), "unexpected file \(name)", sourceLocation: sourceLocation)
            #expect(throws: Never.self, sourceLocation: sourceLocation) {
                _ = try SafeTensors.read(folder.appendingPathComponent(name), requireChecksum: true)
            }
        }
    }

    /// The run ended with the reference's final checkpoint, byte for byte (same world size).
    static func expectFinalCheckpointIsTheReference(_ run: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try Data(contentsOf: run.appendingPathComponent(finalCheckpoint))
                == Data(contentsOf: reference.appendingPathComponent(finalCheckpoint)), sourceLocation: sourceLocation)
    }

    /// The run ended with the reference's final tensors, bit for bit (its metadata records
    /// another world size).
    static func expectFinalTensorsAreTheReference(_ run: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try tensors(run.appendingPathComponent(finalCheckpoint)) == tensors(reference.appendingPathComponent(finalCheckpoint)),
                sourceLocation: sourceLocation)
    }

    static func newestStep(_ run: URL) throws -> Int? {
        try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).steps().last
    }

    /// SIGTERM as a scheduler sends it, SIGHUP as a closing terminal does (SIGINT is in the next
    /// test, SIGUSR1 in `launchTrainStopsEveryRankOnSigterm`).
    @Test(arguments: [SIGTERM, SIGHUP])
    func aSignalStopsAfterAStepWithACheckpointAndResumingGivesTheSameRun(signal: Int32) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try VAEProcess.start(VAEProcess.executable, ["train", "--run-dir", folder.path] + Self.job)
        try Self.waitFor(folder.appendingPathComponent("checkpoints/step-000000004.safetensors"))
        job.signal(signal)
        let stopped = try job.wait()
        #expect(stopped.status == 75, "exit \(stopped.status): \(stopped.stderr)")
        #expect(stopped.stderrLines.count == 1 && stopped.stderr.contains("interrupted: stopped after step")
                && stopped.stderr.contains("--resume"), "\(stopped.stderr)")
        let step = try #require(try Self.newestStep(folder))
        #expect(step > 4 && step < 60 && stopped.stderr.contains("step \(step)"), "stopped at \(step): \(stopped.stderr)")
        try Self.expectOnlyValidCheckpoints(folder)

        let resumed = try VAEProcess.run(["train", "--run-dir", folder.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try Self.expectFinalCheckpointIsTheReference(folder)
    }

    @Test func aSecondSignalEndsTheProcessAtOnce() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try VAEProcess.start(VAEProcess.executable, ["train", "--run-dir", folder.path] + Self.job)
        try Self.waitFor(folder.appendingPathComponent("checkpoints/step-000000004.safetensors"))
        // Two different signals, because a second one of the same kind sent before the first
        // is delivered would merge with it.
        job.signal(SIGINT)
        job.signal(SIGTERM)
        let result = try job.wait()
        #expect([128 + SIGINT, 128 + SIGTERM].contains(result.status), "exit \(result.status): \(result.stderr)")
        // Whatever it was doing, the next start finds valid checkpoints and finishes the run.
        let resumed = try VAEProcess.run(["train", "--run-dir", folder.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try Self.expectOnlyValidCheckpoints(folder)
        try Self.expectFinalCheckpointIsTheReference(folder)
    }

    /// SIGTERM to `launch/train` running two ranks: both stop at the same step (else the
    /// per-epoch replica check or the resume would fail), status 75, and a resume on two ranks
    /// ends with the one-process parameters.
    @Test func launchTrainStopsEveryRankOnSigterm() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let environment = ["VAE_BINARY": VAEProcess.executable.path]
        let job = try VAEProcess.start(Self.launchTrain, ["-n", "2", "--run-dir", run.path] + Self.job, environment: environment)
        try Self.waitFor(run.appendingPathComponent("checkpoints/step-000000004.safetensors"))
        job.signal(SIGTERM)
        let stopped = try job.wait()
        #expect(stopped.status == 75, "exit \(stopped.status): \(stopped.stderr)")
        #expect(stopped.stderr.contains("vae: interrupted: stopped after step"), "\(stopped.stderr)")
        #expect(stopped.stderr.components(separatedBy: "vae: interrupted").count == 2, "rank 0 alone reports: \(stopped.stderr)")

        let resumed = try VAEProcess.start(Self.launchTrain, ["-n", "2", "--run-dir", run.path, "--resume"], environment: environment).wait()
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try Self.expectFinalTensorsAreTheReference(run)
    }

    /// The process id of rank `rank` of the job training into `run`.
    static func rankProcess(_ rank: Int, training run: URL) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries.compactMap(Int32.init) {
            guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let arguments = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.first?.hasSuffix("/vae") == true, arguments.contains(run.path),
               variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") {
                return pid
            }
        }
        return nil
    }

    @Test func aKilledRankEndsTheJobAndARestartFinishesIt() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let job = try VAEProcess.start(Self.launchTrain, ["-n", "2", "--max-restarts", "1", "--run-dir", run.path] + Self.job,
                                       environment: ["VAE_BINARY": VAEProcess.executable.path])
        try Self.waitFor(run.appendingPathComponent("checkpoints/step-000000008.safetensors"))
        let victim = try #require(Self.rankProcess(1, training: run), "rank 1 not found")
        kill(victim, SIGKILL)
        let killed = Date()
        while !job.stderrSoFar.contains("restart 1 of 1") && job.process.isRunning { usleep(20_000) }
        #expect(Date().timeIntervalSince(killed) < 30, "the job took over 30 s to notice")
        let result = try job.wait()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("rank 1") && result.stderr.contains("restart 1 of 1"), "\(result.stderr)")
        #expect(result.stderr.contains("resuming from"), "\(result.stderr)")
        try Self.expectFinalTensorsAreTheReference(run)
    }

    /// Small enough that a test waits seconds, not minutes, for a frozen rank; long enough that a
    /// healthy rank on a busy machine never misses it (it sends a heartbeat every 0.6 s, and a
    /// rank paused itself gives the others credit for its pause). The collectives keep their
    /// default deadlines, far longer: the heartbeats find a silent rank first, wherever it froze.
    static let timeouts = ["--heartbeat-timeout", "3"]

    /// The default --heartbeat-timeout, as `vae train --help` gives it.
    static let defaultHeartbeatTimeout: UInt32 = 10

    /// A 2-rank job of `job` and `flags` under mpirun, with `VAE_FAULT` set to `fault` on every rank.
    static func mpirunJob(_ run: URL, fault: String? = nil, flags: [String] = timeouts) throws -> VAEProcess.Running {
        try VAEProcess.start(URL(fileURLWithPath: "/usr/bin/env"), [
            "mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
            + (fault == nil ? [] : ["-x", "VAE_FAULT"]) + ["-n", "2", VAEProcess.executable.path, "train", "--run-dir", run.path]
            + job + flags, environment: fault.map { ["VAE_FAULT": $0] } ?? [:])
    }

    /// Waits for the job to save `step`, then freezes rank `rank` as a node swapping itself to
    /// death would (SIGSTOP: its process and its TCP connections stay, it just never answers),
    /// somewhere in the steps after.
    static func freeze(rank: Int, of run: URL, after step: Int) throws -> (pid: Int32, at: Date) {
        try waitFor(run.appendingPathComponent(String(format: "checkpoints/step-%09d.safetensors", step)))
        let victim = try #require(rankProcess(rank, training: run), "rank \(rank) not found")
        kill(victim, SIGSTOP)
        return (victim, Date())
    }

    /// A rank frozen (SIGSTOP, as a node swapping itself to death or hung in the kernel) at an
    /// exact point by the trainer's fault hooks: inside the exact sum of step 9 (every rank has
    /// entered it, so the collective cannot say who went silent), or while rank 0 writes the
    /// checkpoint of step 8. With the collectives' default deadlines, the heartbeats end the job
    /// within their timeout: one line naming the frozen rank (rank 0 hears every rank; rank 1,
    /// which hears rank 0 and waits 2 s longer to let rank 0 speak first, names rank 0), status
    /// 69, and every checkpoint left whole.
    @Test(arguments: ["freeze-in-sum@9/1", "freeze-in-sum@9/0", "freeze-saving@8/1"])
    func aFrozenRankIsNamedWithinTheHeartbeatTimeout(fault: String) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let frozenRank = fault.hasSuffix("/0") ? 0 : 1
        let job = try Self.mpirunJob(folder, fault: fault)
        // Whatever happens, the frozen rank does not outlive the test.
        defer { if let rank = Self.rankProcess(frozenRank, training: folder) { kill(rank, SIGKILL) } }
        // The freeze comes at most a step after step 8's checkpoint appears.
        try Self.waitFor(folder.appendingPathComponent("checkpoints/step-000000008.safetensors"))
        let saved = Date()
        let result = try job.wait()
        let waited = Date().timeIntervalSince(saved)
        #expect(result.status == 69, "exit \(result.status): \(result.stderr)")
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        let named = frozenRank == 1 ? "vae: rank 1 did not answer for 3 s (no heartbeat from "
            : "vae: rank 1: rank 0 did not answer for 5 s (no heartbeat from "
        let place = fault.hasPrefix("freeze-in-sum") ? "in the exact sum of step 9 (epoch 1)" : "of step 9 (epoch 1)"
        #expect(lines.count == 1 && lines[0].hasPrefix(named) && lines[0].contains(place)
                && lines[0].hasSuffix("; the newest checkpoint (step 8) is kept"), "\(result.stderr)")
        #expect(waited < 5 + 10, "ended \(waited) s after step 8 was saved: \(result.stderr)")
        #expect(try Self.newestStep(folder) == 8)
        try Self.expectOnlyValidCheckpoints(folder)
    }

    /// Rank 1 frozen while rank 0's own work is stuck outside MPI (it stalls before step 9's
    /// sums), so no collective can act on the finding: the heartbeat thread ends the job itself
    /// a timeout later, with one line.
    @Test func aSilentRankIsActedOnEvenWhenRankZeroNeverReachesACollective() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try Self.mpirunJob(folder, fault: "stall@9/0,freeze-saving@8/1")
        defer { if let rank = Self.rankProcess(1, training: folder) { kill(rank, SIGKILL) } }
        try Self.waitFor(folder.appendingPathComponent("checkpoints/step-000000008.safetensors"))
        let saved = Date()
        let result = try job.wait()
        let waited = Date().timeIntervalSince(saved)
        #expect(result.status == 69, "exit \(result.status): \(result.stderr)")
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines.count == 1 && lines[0].hasPrefix("vae: rank 1 did not answer for 3 s (no heartbeat from ")
                && lines[0].hasSuffix("and this rank's work did not stop for it within 3 s more; ending the job"), "\(result.stderr)")
        #expect(waited < 6 + 10, "ended \(waited) s after step 8 was saved: \(result.stderr)")
        try Self.expectOnlyValidCheckpoints(folder)
    }

    /// A rank alive but slow (its training stalls before step 9's sums while its heartbeats go
    /// on): the collective's deadline ends the job, and rank 0 names the rank that never came.
    @Test func aStalledRankEndsTheJobAtTheCollectiveDeadline() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try Self.mpirunJob(folder, fault: "stall@9/1", flags: ["--collective-timeout", "3"])
        defer { if let rank = Self.rankProcess(1, training: folder) { kill(rank, SIGKILL) } }
        try Self.waitFor(folder.appendingPathComponent("checkpoints/step-000000008.safetensors"))
        let saved = Date()
        let result = try job.wait()
        let waited = Date().timeIntervalSince(saved)
        #expect(result.status == 69, "exit \(result.status): \(result.stderr)")
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines == ["vae: no answer within 3 s in the exponent agreement of step 9 (epoch 1): rank 1 did not answer; the newest checkpoint (step 8) is kept"],
                "\(result.stderr)")
        #expect(waited < 3 + 10, "ended \(waited) s after step 8 was saved: \(result.stderr)")
        try Self.expectOnlyValidCheckpoints(folder)
    }

    /// A rank paused for half the default heartbeat timeout (SIGSTOP, then SIGCONT: a node
    /// stalled for seconds) is no failure: the run goes on and ends with the one-process result.
    @Test func aRankPausedForLessThanTheHeartbeatTimeoutGoesOn() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try Self.mpirunJob(folder, flags: [])
        let paused = try Self.freeze(rank: 1, of: folder, after: 4)
        sleep(Self.defaultHeartbeatTimeout / 2)
        kill(paused.pid, SIGCONT)
        let result = try job.wait()
        #expect(result.status == 0, "exit \(result.status): \(result.stderr)")
        try Self.expectFinalTensorsAreTheReference(folder)
    }

    /// A rank that never reaches MPI_Init (its host hung before starting it): the rank waiting in
    /// MPI_Init ends the job after the start-up deadline with one line, and nothing is written.
    @Test func aRankThatNeverStartsMPIEndsTheJobAtTheStartUpDeadline() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let started = Date()
        let result = try VAEProcess.start(URL(fileURLWithPath: "/usr/bin/env"), [
            "mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
            "-n", "1", VAEProcess.executable.path, "train", "--run-dir", run.path, "--slow-collective-timeout", "3",
            ":", "-n", "1", "sh", "-c", "sleep 600"]).wait()
        let waited = Date().timeIntervalSince(started)
        #expect(result.status == 69, "exit \(result.status): \(result.stderr)")
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines == ["vae: MPI start-up did not complete within 3 s (see --slow-collective-timeout): a rank hangs before or inside MPI_Init (its host frozen, unreachable or slow to start it); nothing was trained"],
                "\(result.stderr)")
        #expect(waited < 3 + 20, "ended after \(waited) s: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run.path), "nothing written")
    }

    /// A rank frozen from outside under `launch/train --max-restarts 1` (wherever the freeze
    /// lands, the heartbeats name it): the abort takes the frozen rank down, the restart resumes
    /// from the newest checkpoint (a fault hook would freeze the restarted job again), and the
    /// run ends at the one-process result.
    @Test func aFrozenRankUnderLaunchTrainIsRestartedPastAndTheRunFinishes() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let job = try VAEProcess.start(Self.launchTrain, ["-n", "2", "--max-restarts", "1", "--run-dir", run.path] + Self.job + Self.timeouts,
                                       environment: ["VAE_BINARY": VAEProcess.executable.path])
        let frozen = try Self.freeze(rank: 1, of: run, after: 8)
        defer { if Self.rankProcess(1, training: run) == frozen.pid { kill(frozen.pid, SIGKILL) } }
        let result = try job.wait()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("rank 1 did not answer") && result.stderr.contains("the job failed (exit 69); restart 1 of 1")
                && result.stderr.contains("resuming from"), "\(result.stderr)")
        try Self.expectFinalTensorsAreTheReference(run)
    }

    @Test func timeoutsAndMinimumRanksRefuseWhatCannotBe() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        for (flags, message) in [(["--collective-timeout", "0"], "--collective-timeout must be a positive number of seconds"),
                                 (["--slow-collective-timeout", "inf"], "--slow-collective-timeout must be a positive number of seconds"),
                                 (["--heartbeat-timeout", "0"], "--heartbeat-timeout must be a positive number of seconds")] {
            expectRefusal(try VAEProcess.run(["train", "--run-dir", run.path] + flags), message)
        }
        let launched = try VAEProcess.start(Self.launchTrain, ["-n", "1", "--min-ranks", "2", "--run-dir", run.path],
                                            environment: ["VAE_BINARY": VAEProcess.executable.path]).wait()
        expectRefusal(launched, "1 rank(s) is below --min-ranks 2")
        #expect(!FileManager.default.fileExists(atPath: run.path), "nothing written")
    }

    @Test func aCrashWhileSavingKeepsThePreviousCheckpointAndLeavesNothingBehind() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let crashed = try VAEProcess.start(VAEProcess.executable, ["train", "--run-dir", folder.path] + Self.job,
                                           environment: ["VAE_FAULT": "crash-saving@8"]).wait()
        #expect(crashed.status == SIGKILL, "status \(crashed.status): \(crashed.stderr)")
        let checkpoints = folder.appendingPathComponent("checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        #expect(names.count == 2 && names[0].hasPrefix(".step-000000008.safetensors.tmp-") && names[1] == "step-000000004.safetensors",
                "\(names)")

        let resumed = try VAEProcess.run(["train", "--run-dir", folder.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("step-000000004.safetensors (epoch 0, step 4)"), "\(resumed.stderr)")
        try Self.expectOnlyValidCheckpoints(folder)
        try Self.expectFinalCheckpointIsTheReference(folder)
    }

    /// A NaN on rank 1 only: every rank stops at that step, rank 0 says so once, and no
    /// checkpoint of that step or later exists.
    @Test func aNonFiniteGradientOnOneRankStopsEveryRank() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try VAEProcess.mpirun([(2, ["train", "--run-dir", folder.path] + Self.job)], environment: ["VAE_FAULT": "nan-gradient@14/1"])
        #expect(result.status != 0)
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines.count == 1 && lines[0].contains("step 14 (epoch 2)") && lines[0].contains("not finite")
                && lines[0].contains("step 12"), "\(result.stderr)")
        #expect(try Self.newestStep(folder) == 12)
        try Self.expectOnlyValidCheckpoints(folder)
    }

    /// On a tmpfs just big enough for one checkpoint, the second save fails cleanly. (Mounted in
    /// the test, so that a run that leaves it out leaves no mount behind.)
    @Test func aFullDiskFailsTheSaveCleanlyAndKeepsThePreviousCheckpoint() throws {
        let disk = try VAEProcess.temporaryDirectory(), tool = URL(fileURLWithPath: "/usr/bin/env")
        guard getuid() == 0,
              try VAEProcess.start(tool, ["mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", disk.path]).wait().status == 0
        else { try Test.cancel("needs root and a tmpfs mount: not checked here") }
        defer { _ = try? VAEProcess.start(tool, ["umount", disk.path]).wait() }
        let run = disk.appendingPathComponent("run")
        let result = try VAEProcess.run(["train", "--run-dir", run.path, "--limit", "600", "--batch-size", "64",
                                         "--test-images", "0", "--epochs", "2"])
        expectRefusal(result, "step-000000020.safetensors", "No space left on device")
        #expect(try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).steps() == [10])
        try Self.expectOnlyValidCheckpoints(run)
    }
}

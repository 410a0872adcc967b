import Checkpoint
import Foundation
import Testing

/// `vae train` as a user runs it: flags, refusals, and resume through the command line.
struct TrainCommandTests {
    /// A tiny run: 256 images, batch 64.
    static let small = ["--limit", "256", "--batch-size", "64", "--test-images", "64"]

    @Test(arguments: [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be between 1 and 65536"),
        (["--latent-dim=-3"], "--latent-dim"),
        (["--encoder-width", "0"], "--encoder-width must be between 1 and 4096"),
        (["--epochs", "3", "--cosine-decay-epochs", "2"], "--cosine-decay-epochs must be at least --epochs (3)"),
        (["--learning-rate", "abc"], "--learning-rate"),
        (["--learning-rate=-1"], "--learning-rate must be a positive number"),
        (["--learning-rate", "nan"], "--learning-rate must be a positive number"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--micro-batch-size", "0"], "--micro-batch-size"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
        (["--seed=-1"], "--seed"),
        (["--kl-weight=-0.5"], "--kl-weight must be between 0 and 1000"),
        (["--test-images=-1"], "--test-images must be at least 0"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--data", "/nonexistent/folder"], "/nonexistent/folder"),
        (["--resume", "--resume-if-saved"], "--resume and --resume-if-saved do not go together"),
    ])
    func badFlagsAreRefusedInOneLine(arguments: [String], message: String) throws {
        let run = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: run) }
        let result = try VAEProcess.run(["train", "--run-dir", run.appendingPathComponent("r").path] + arguments)
        expectRefusal(result, message)
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("r").path), "nothing written")
    }

    @Test(arguments: [["--help"], ["train", "--help"], ["upscale", "--help"], ["morph", "--help"], ["eval", "--help"],
                      ["latent", "--help"], ["inspect", "--help"], ["export", "--help"], ["help", "train"]])
    func helpReadsWellAndSucceeds(arguments: [String]) throws {
        let result = try VAEProcess.run(arguments)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result.stderr)")
        #expect(result.stdout.contains("USAGE: vae") && result.stdout.contains("OPTIONS:"), "\(result.stdout)")
    }

    @Test func damagedDataIsRefusedNamingTheFile() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let mnist = VAEProcess.repository.appendingPathComponent("data/mnist")
        for name in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(at: mnist.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try Data([0, 0, 8, 3, 0, 0, 0, 1]).write(to: folder.appendingPathComponent("train-images-idx3-ubyte"))
        let result = try VAEProcess.run(["train", "--data", folder.path, "--run-dir", folder.appendingPathComponent("r").path])
        expectRefusal(result, "train-images-idx3-ubyte")
    }

    @Test func resumeRefusals() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run").path

        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume"] + Self.small), "no checkpoint to resume from")

        let first = try VAEProcess.run(["train", "--run-dir", run, "--epochs", "1"] + Self.small)
        #expect(first.status == 0, "\(first.stderr)")
        let checkpoint = URL(fileURLWithPath: run).appendingPathComponent("checkpoints/step-000000004.safetensors")
        let before = try Data(contentsOf: checkpoint)

        // A new run never writes over an existing one.
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--epochs", "2"] + Self.small),
                      "already holds a run", "--resume")
        // Changed settings are refused unless allowed; a different latent size always.
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--batch-size", "32"]),
                      "batch size 64", "--allow-config-change")
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--seed", "7"]),
                      "seed 1", "--allow-config-change")
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--kl-weight", "0.5"]),
                      "KL weight 1.0", "--allow-config-change")
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--latent-dim", "3",
                                          "--allow-config-change"]), "latent dimension 2")
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--encoder-width", "64",
                                          "--allow-config-change"]), "encoder width 16")
        #expect(try Data(contentsOf: checkpoint) == before, "refusals leave the run untouched")

        let allowed = try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--batch-size", "32",
                                          "--allow-config-change"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        let finished = try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2"])
        #expect(finished.status == 0 && finished.stdout.contains("nothing to do"), "\(finished.stdout) \(finished.stderr)")
    }

    /// What launch/train passes on a restart: in a run directory without a checkpoint it starts
    /// the run; with one it resumes, and ends as the straight run does.
    @Test func resumeIfSavedStartsTheRunOrResumesIt() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let straight = folder.appendingPathComponent("straight").path, run = folder.appendingPathComponent("run").path

        let started = try VAEProcess.run(["train", "--run-dir", run, "--resume-if-saved", "--epochs", "1"] + Self.small)
        #expect(started.status == 0 && !started.stderr.contains("resuming"), "\(started.stderr)")
        let resumed = try VAEProcess.run(["train", "--run-dir", run, "--resume-if-saved", "--epochs", "2"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming from") && resumed.stderr.contains("step-000000004"),
                "\(resumed.stderr)")
        let a = try VAEProcess.run(["train", "--run-dir", straight, "--epochs", "2"] + Self.small)
        #expect(a.status == 0, "\(a.stderr)")

        let final = "checkpoints/step-000000008.safetensors"
        #expect(try Data(contentsOf: URL(fileURLWithPath: straight).appendingPathComponent(final))
                == Data(contentsOf: URL(fileURLWithPath: run).appendingPathComponent(final)), "final checkpoints differ")
    }

    /// How a run saves checkpoints is part of the run: a resume without those flags keeps them.
    @Test func aResumeKeepsTheRunsCheckpointSettings() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run").path
        let first = try VAEProcess.run(["train", "--run-dir", run, "--epochs", "1", "--checkpoint-every", "2", "--keep-checkpoints", "5"] + Self.small)
        #expect(first.status == 0, "\(first.stderr)")
        let resumed = try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let steps = try CheckpointStore(directory: URL(fileURLWithPath: run).appendingPathComponent("checkpoints")).steps()
        #expect(steps == [2, 4, 6, 8], "every 2 steps, 5 kept: \(steps)")
    }

    /// With the constant learning rate and with a cosine decay over the 3 epochs (whose rate
    /// depends on the step the resume starts at).
    @Test(arguments: [[], ["--cosine-decay-epochs", "3"]])
    func resumedThroughTheCommandLineEqualsAStraightRunByteForByte(schedule: [String]) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let straight = folder.appendingPathComponent("straight").path, resumed = folder.appendingPathComponent("resumed").path

        let a = try VAEProcess.run(["train", "--run-dir", straight, "--epochs", "3", "--checkpoint-every", "3"] + Self.small + schedule)
        #expect(a.status == 0, "\(a.stderr)")
        let b1 = try VAEProcess.run(["train", "--run-dir", resumed, "--epochs", "1", "--checkpoint-every", "3"] + Self.small + schedule)
        #expect(b1.status == 0, "\(b1.stderr)")
        // Damage the newest checkpoint: resume must skip it, say so, and use the one before.
        let resumedCheckpoints = URL(fileURLWithPath: resumed).appendingPathComponent("checkpoints")
        let newest = resumedCheckpoints.appendingPathComponent("step-000000004.safetensors")
        var bytes = try Data(contentsOf: newest)
        bytes[bytes.count - 5] ^= 0xFF
        try bytes.write(to: newest)
        let b2 = try VAEProcess.run(["train", "--run-dir", resumed, "--resume", "--epochs", "3"])
        #expect(b2.status == 0, "\(b2.stderr)")
        #expect(b2.stderr.contains("skipping") && b2.stderr.contains("step-000000004"), "\(b2.stderr)")

        let final = "checkpoints/step-000000012.safetensors"
        let x = try Data(contentsOf: URL(fileURLWithPath: straight).appendingPathComponent(final))
        let y = try Data(contentsOf: URL(fileURLWithPath: resumed).appendingPathComponent(final))
        #expect(x == y, "final checkpoints differ")
        let saved = try SafeTensors.read(URL(fileURLWithPath: resumed).appendingPathComponent(final), requireChecksum: true)
        #expect(saved.metadata["cosine_decay_epochs"] == (schedule.isEmpty ? "none" : "3"))
        let metrics = { (run: String) throws -> [String] in
            try String(contentsOf: URL(fileURLWithPath: run).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").map { line -> String in
                    var text = String(line)
                    text.replace(/"images_per_second":[^,]*,/, with: "")
                    text.replace(/"seconds":[^,]*,/, with: "")
                    text.replace(/"allreduce_ms_per_step":[^,]*,/, with: "")
                    return text
                }
        }
        #expect(try metrics(straight) == metrics(resumed))
        #expect(try metrics(straight).count == 3)
    }
}

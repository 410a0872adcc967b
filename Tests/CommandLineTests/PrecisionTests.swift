import Foundation
import Testing

/// `--precision bf16` keeps every guarantee of float32: 1 process, 2 and 3 ranks and a stopped
/// and resumed run give the same bits; it is part of the run (a resume keeps it, changing it
/// needs --allow-config-change); a build without bf16 kernels refuses it in one line.
@Suite(.serialized)
struct PrecisionTests {
    static let bf16 = ["--precision", "bf16"]

    static func losses(_ run: URL) throws -> [Double] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return try #require(object["loss"] as? Double)
            }
    }

    @Test func bf16GivesOneProcessBitsAtAnyWorldSizeAndAcrossAResume() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = ["train", "--epochs", "2"] + DistributedTests.job + Self.bf16
        let one = folder.appendingPathComponent("one")
        let single = try VAEProcess.run(arguments + ["--run-dir", one.path])
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("precision bf16"), "the header names the precision: \(single.stdout)")
        let reference = try DistributedTests.tensors(one)

        // The rounding shows: not float32's parameters, but a loss that falls as float32's does.
        let fp32 = try DistributedTests.tensors(DistributedTests.reference)
        #expect(reference["decoder.deconv2.kernel"].map { $0.map(\.bitPattern) } != fp32["decoder.deconv2.kernel"].map { $0.map(\.bitPattern) })
        let mine = try Self.losses(one), theirs = try Self.losses(DistributedTests.reference)
        #expect(mine.count == 2 && mine[1] < mine[0], "the bf16 loss falls: \(mine)")
        for (a, b) in zip(mine, theirs) { #expect(abs(a - b) / b < 0.02, "bf16 loss \(a) against float32's \(b)") }

        func expectSame(_ run: URL, _ what: String) throws {
            let tensors = try DistributedTests.tensors(run)
            #expect(tensors.count == reference.count)
            for (name, values) in reference {
                #expect(tensors[name].map { $0.map(\.bitPattern) } == values.map(\.bitPattern), "\(what): \(name) differs")
            }
            #expect(try DistributedTests.metrics(run) == DistributedTests.metrics(one), "\(what): metrics differ")
        }
        for ranks in [2, 3] {
            let run = folder.appendingPathComponent("ranks-\(ranks)")
            let result = try VAEProcess.mpirun([(ranks, arguments + ["--run-dir", run.path])])
            #expect(result.status == 0, "\(ranks) ranks: \(result.stderr)")
            try expectSame(run, "\(ranks) ranks")
        }

        // Stopped after its first epoch, resumed with another thread count: the resume keeps bf16.
        let resumed = folder.appendingPathComponent("resumed")
        let first = try VAEProcess.run(["train", "--epochs", "1", "--threads", "1", "--run-dir", resumed.path]
                                       + DistributedTests.job + Self.bf16)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try VAEProcess.run(["train", "--epochs", "2", "--threads", "2", "--resume", "--run-dir", resumed.path])
        #expect(second.status == 0 && second.stdout.contains("precision bf16"), "\(second.stdout) \(second.stderr)")
        try expectSame(resumed, "stopped and resumed")
    }

    @Test func aResumeThatChangesThePrecisionNeedsAllowing() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run").path
        let small = ["--limit", "256", "--batch-size", "64", "--test-images", "0"]
        let first = try VAEProcess.run(["train", "--run-dir", run, "--epochs", "1"] + small)
        #expect(first.status == 0, "\(first.stderr)")
        let checkpoint = URL(fileURLWithPath: run).appendingPathComponent("checkpoints/step-000000004.safetensors")
        let before = try Data(contentsOf: checkpoint)
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2"] + Self.bf16),
                      "precision fp32", "--allow-config-change")
        #expect(try Data(contentsOf: checkpoint) == before, "the refusal leaves the run untouched")
        let allowed = try VAEProcess.run(["train", "--run-dir", run, "--resume", "--epochs", "2", "--allow-config-change"] + Self.bf16)
        #expect(allowed.status == 0 && allowed.stdout.contains("precision bf16"), "\(allowed.stdout) \(allowed.stderr)")
        let inspected = try VAEProcess.run(["inspect", "--checkpoint", run])
        #expect(inspected.status == 0 && inspected.stdout.contains("precision bf16"), "vae inspect shows the precision: \(inspected.stdout)")
    }

    @Test func aBuildWithoutBF16KernelsRefusesIt() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let result = try VAEProcess.start(VAEProcess.executable, ["train", "--epochs", "1", "--run-dir", run.path] + Self.bf16,
                                          environment: ["VAE_KERNELS": "baseline"]).wait()
        expectRefusal(result, "--precision bf16", "baseline")
        #expect(!FileManager.default.fileExists(atPath: run.path), "a refused run must not start")
        let bad = try VAEProcess.run(["train", "--run-dir", run.path, "--precision", "fp16"])
        expectRefusal(bad, "fp16")
    }
}

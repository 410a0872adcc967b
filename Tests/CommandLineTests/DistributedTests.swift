import Checkpoint
import Foundation
import Testing

/// Under real `mpirun`: any world size gives the parameters of one process bit for bit, any
/// world size resumes any other's checkpoint, only rank 0 writes, and ranks that disagree on
/// the configuration refuse to start.
@Suite(.serialized)
struct DistributedTests {
    /// 600 images in batches of 128 (the last one 88, so uneven splits at every world size),
    /// micro-batches of 16: 8 per full batch, dealt 3/3/2 to three ranks, 2/2/2/2 to four.
    /// The test losses of 500 test images are part of the metrics compared.
    static let job = ["--limit", "600", "--batch-size", "128", "--micro-batch-size", "16", "--test-images", "500"]

    /// The one-process run every distributed run is compared with.
    static let reference: URL = {
        let folder = try! VAEProcess.temporaryDirectory()
        let result = try! VAEProcess.run(["train", "--run-dir", folder.path, "--epochs", "2"] + job)
        precondition(result.status == 0, result.stderr)
        return folder
    }()

    static let finalStep = 10   // 2 epochs of 5 steps

    static func tensors(_ run: URL, step: Int = finalStep) throws -> [String: [Float]] {
        let file = try SafeTensors.read(CheckpointStore(directory: run.appendingPathComponent("checkpoints")).url(forStep: step),
                                        requireChecksum: true)
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.values(of: $0)) })
    }

    static func metrics(_ run: URL) throws -> [String] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { line in
                var text = String(line)
                for key in ["images_per_second", "seconds", "allreduce_ms_per_step"] {
                    text.replace(try Regex("\"\(key)\":[^,}]*,?"), with: "")
                }
                return text
            }
    }

    func expectSameAsReference(_ run: URL, _ what: String) throws {
        let mine = try Self.tensors(run), reference = try Self.tensors(Self.reference)
        #expect(mine.count == 54)
        for (name, values) in reference {
            #expect(mine[name].map { $0.map(\.bitPattern) } == values.map(\.bitPattern), "\(what): \(name) differs")
        }
        #expect(try Self.metrics(run) == Self.metrics(Self.reference), "\(what): metrics differ")
    }

    @Test(arguments: [2, 3, 4])
    func anyWorldSizeEqualsOneProcess(ranks: Int) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        // Ranks other than 0 get a run directory that cannot exist: any write by them would fail.
        let result = try VAEProcess.mpirun([
            (1, ["train", "--run-dir", run.path, "--epochs", "2"] + Self.job),
            (ranks - 1, ["train", "--run-dir", "/dev/null/not-a-directory", "--epochs", "2"] + Self.job),
        ])
        #expect(result.status == 0, "mpirun -n \(ranks): \(result.stderr)")
        try expectSameAsReference(run, "\(ranks) ranks")
        #expect(result.stdout.components(separatedBy: "training on").count == 2, "one rank speaks: \(result.stdout)")
        #expect(result.stdout.contains("\(ranks) rank(s)"))
        let metadata = try SafeTensors.read(CheckpointStore(directory: run.appendingPathComponent("checkpoints"))
            .url(forStep: Self.finalStep), requireChecksum: true).metadata
        #expect(metadata["world_size"] == "\(ranks)")
    }

    @Test func checkpointOfFourRanksResumesOnTwoAndOne() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let four = folder.appendingPathComponent("four")
        let first = try VAEProcess.mpirun([(4, ["train", "--run-dir", four.path, "--epochs", "1", "--checkpoint-every", "2"] + Self.job)])
        #expect(first.status == 0, "\(first.stderr)")
        for ranks in [2, 1] {
            let run = folder.appendingPathComponent("resumed-on-\(ranks)")
            try FileManager.default.copyItem(at: four, to: run)
            // On 2 ranks with 2 threads each, on 1 with 3 threads: threads do not change results either.
            let result = ranks == 1
                ? try VAEProcess.run(["train", "--run-dir", run.path, "--resume", "--epochs", "2", "--threads", "3"])
                : try VAEProcess.mpirun([(ranks, ["train", "--run-dir", run.path, "--resume", "--epochs", "2", "--threads", "2"])])
            #expect(result.status == 0, "resume on \(ranks): \(result.stderr)")
            try expectSameAsReference(run, "4 ranks resumed on \(ranks)")
        }
    }

    /// Another model shape (latent 5, encoder width 40), with a cosine decay of the learning
    /// rate, keeps the contract: 3 ranks give one process's bits. Its checkpoint says its shape,
    /// and so does `vae inspect`.
    @Test func aWiderEncoderOnThreeRanksEqualsOneProcess() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let shape = ["--latent-dim", "5", "--encoder-width", "40", "--epochs", "1", "--cosine-decay-epochs", "1"]
        let one = folder.appendingPathComponent("one"), three = folder.appendingPathComponent("three")
        let single = try VAEProcess.run(["train", "--run-dir", one.path] + shape + Self.job)
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("latent 5, encoder width 40"), "\(single.stdout)")
        let ranks = try VAEProcess.mpirun([(3, ["train", "--run-dir", three.path] + shape + Self.job)])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        let a = try Self.tensors(one, step: 5), b = try Self.tensors(three, step: 5)
        #expect(a["encoder.dense.kernel"]?.count == 256 * 40 && a["encoder.z_mean.kernel"]?.count == 40 * 5)
        #expect(a.count == 54 && a.mapValues { $0.map(\.bitPattern) } == b.mapValues { $0.map(\.bitPattern) },
                "3 ranks differ from one process")
        #expect(try Self.metrics(one) == Self.metrics(three))

        let inspect = try VAEProcess.run(["inspect", "--checkpoint", three.path])
        #expect(inspect.status == 0 && inspect.stdout.contains("latent dimension 5, encoder width 40"), "\(inspect.stdout)")
        let json = try VAEProcess.run(["inspect", "--json", "--latent-dim", "5", "--encoder-width", "40"])
        let fromCheckpoint = try VAEProcess.run(["inspect", "--json", "--checkpoint", three.path])
        #expect(json.status == 0 && json.stdout.contains("\"encoder_width\": 40") && json.stdout.contains("[256, 40]"), "\(json.stdout)")
        #expect(fromCheckpoint.stdout == json.stdout)
        expectRefusal(try VAEProcess.run(["inspect", "--json", "--encoder-width", "0"]), "--encoder-width must be between 1 and 4096")
    }

    @Test func ranksWithDifferentConfigurationsRefuseToStart() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run")
        let result = try VAEProcess.mpirun([
            (1, ["train", "--run-dir", run.path, "--epochs", "2", "--seed", "1"] + Self.job),
            (1, ["train", "--run-dir", run.path, "--epochs", "2", "--seed", "2"] + Self.job),
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("vae: ranks were started with different configurations"), "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "different configurations").count == 2, "reported once: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run.path), "nothing written")
    }

    @Test func aBadFlagIsReportedOnceNotByEveryRank() throws {
        let result = try VAEProcess.mpirun([(3, ["train", "--epochs", "0"])])
        #expect(result.status != 0)
        let lines = result.stderrLines.filter { $0.hasPrefix("vae:") }
        #expect(lines.count == 1 && lines[0].contains("--epochs must be at least 1"), "\(result.stderr)")
    }
}

import Foundation
import Testing

/// RUN/tensorboard read back by TensorBoard's own Python reader: every scalar, image and text
/// of a short run at the right steps; a run stopped, resumed and cut back to an earlier
/// checkpoint, and a 2-rank run, leave the same events (apart from wall times and the timings).
@Suite(.serialized)
struct TensorBoardTests {
    /// 8 steps an epoch; the running losses every 4 steps; outputs at both epoch ends.
    static let job = ["--limit", "1024", "--test-images", "200", "--tensorboard-every", "4", "--outputs-every", "1",
                      "--checkpoint-every", "4", "--keep-checkpoints", "10"]

    /// What TensorBoard reads: each record in file order (with its CRCs checked), and per tag
    /// through its EventAccumulator; PNG images by SHA-256, beside those of the outputs on disk.
    static let reader = """
    import hashlib, json, os, sys
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
    run = sys.argv[1]
    folder = os.path.join(run, "tensorboard")
    files = sorted(os.listdir(folder))
    reader = pywrap_tensorflow.PyRecordReader_New(os.path.join(folder, files[0]))
    records = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            break
        event = event_pb2.Event.FromString(reader.record())
        if event.HasField("file_version"):
            records.append([event.step, "file_version", event.file_version])
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                records.append([event.step, value.tag, value.simple_value])
            elif kind == "image":
                records.append([event.step, value.tag, hashlib.sha256(value.image.encoded_image_string).hexdigest(),
                                value.image.width, value.image.height])
            elif kind == "tensor":
                records.append([event.step, value.tag, value.tensor.string_val[0].decode()])
    tags = event_accumulator.EventAccumulator(folder, size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    tags.Reload()
    found = tags.Tags()
    print(json.dumps({
        "files": files,
        "records": records,
        "scalars": {t: [[e.step, e.value] for e in tags.Scalars(t)] for t in found["scalars"]},
        "images": {t: [[e.step, hashlib.sha256(e.encoded_image_string).hexdigest()] for e in tags.Images(t)] for t in found["images"]},
        "texts": {t: [[e.step, e.tensor_proto.string_val[0].decode()] for e in tags.Tensors(t)] for t in found["tensors"]},
        "outputs": {n: hashlib.sha256(open(os.path.join(run, "outputs", n + ".png"), "rb").read()).hexdigest()
                    for n in ["upscale", "manifold"]},
    }))
    """

    struct Events: Decodable {
        let files: [String]
        let records: [[Value]]
        let scalars: [String: [[Double]]]
        let images: [String: [[Value]]]
        let texts: [String: [[Value]]]
        let outputs: [String: String]

        /// What does not depend on the clock: every record but the timings.
        var timeless: [[Value]] { records.filter { !($0[1].text?.hasPrefix("speed/") ?? false) } }
    }

    enum Value: Decodable, Equatable {
        case number(Double), text(String)
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
        }
        var text: String? { if case .text(let s) = self { s } else { nil } }
        var number: Double? { if case .number(let n) = self { n } else { nil } }
    }

    static func read(_ run: URL) throws -> Events {
        let result = try VAEProcess.launch(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", reader, run.path], in: nil)
        try #require(result.status == 0, "TensorBoard's reader failed (launch/test installs tensorboard into .venv-test): \(result.stderr)")
        return try JSONDecoder().decode(Events.self, from: Data(result.stdout.utf8))
    }

    static func train(_ run: URL, _ arguments: [String]) throws {
        let result = try VAEProcess.run(["train", "--run-dir", run.path] + arguments + job)
        try #require(result.status == 0, "\(result.stderr)")
    }

    static let folder = try! VAEProcess.temporaryDirectory()
    static let straight: (URL, Events) = {
        let run = folder.appendingPathComponent("straight")
        try! train(run, ["--epochs", "2"])
        return (run, try! read(run))
    }()

    @Test func aShortRunsScalarsImagesAndSettingsAreAllThere() throws {
        let (run, events) = Self.straight
        #expect(events.files == ["events.out.tfevents.vae"])
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        try #require(metrics.count == 2)
        func expected(_ key: String, _ nested: String? = nil) -> [[Double]] {
            metrics.map { line in
                let value = nested.map { (line[$0] as! [String: Any])[key] as! Double } ?? line[key] as! Double
                return [Double(line["step"] as! Int), Double(Float(value))]
            }
        }
        for key in ["loss", "reconstruction_loss", "kl_loss"] {
            #expect(events.scalars["epoch/\(key)"] == expected(key))
            #expect(events.scalars["test/\(key)"] == expected(key, "test"))
            // The running mean at an epoch's last step is the epoch's mean.
            let running = try #require(events.scalars["running/\(key)"])
            #expect(running.map { $0[0] } == [4, 8, 12, 16])
            #expect([running[1], running[3]] == expected(key))
        }
        #expect(events.scalars["speed/images_per_second"]?.map { $0[0] } == [8, 16])
        #expect(events.scalars["speed/images_per_second"]?.allSatisfy { $0[1] > 0 } == true)
        #expect(events.scalars["speed/allreduce_ms_per_step"]?.map { $0[0] } == [8, 16])
        // The digit reader's figure for the model's upscales, at each outputs epoch: the last is scores.json's.
        let scores = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("outputs/scores.json"))) as? [String: Any]
        let readRight = try #require(scores?["read_right"] as? Double)
        #expect(events.scalars["outputs/read_right"]?.map { $0[0] } == [8, 16])
        #expect(events.scalars["outputs/read_right"]?.last?[1] == Double(Float(readRight)))
        #expect(events.scalars.count == 12, "\(events.scalars.keys.sorted())")

        for name in ["upscale", "manifold"] {
            let images = try #require(events.images["outputs/\(name)"])
            #expect(images.map { $0[0] } == [.number(8), .number(16)])
            #expect(images.last?[1] == .text(events.outputs[name]!), "the last \(name) is the PNG in outputs/")
            #expect(images[0][1] != images[1][1], "a later epoch's \(name) differs")
        }
        let settings = try #require(events.texts["settings"]?.first)
        #expect(settings[0] == .number(0) && settings[1].text?.contains("| latent dimension | 2 |") == true)
        #expect(events.records.first == [.number(0), .text("file_version"), .text("brain.Event:2")])
    }

    @Test func aStoppedResumedAndCutBackRunLogsEachStepOnce() throws {
        let run = Self.folder.appendingPathComponent("resumed")
        try Self.train(run, ["--epochs", "1"])
        try Self.train(run, ["--epochs", "2", "--resume"])
        // As if killed after step 16's events but before its checkpoint: resume from step 12.
        try FileManager.default.removeItem(at: run.appendingPathComponent("checkpoints/step-000000016.safetensors"))
        try Self.train(run, ["--epochs", "2", "--resume"])
        let resumed = try Self.read(run)
        #expect(resumed.timeless == Self.straight.1.timeless)
        for (tag, values) in resumed.scalars {
            let steps = values.map { $0[0] }
            #expect(steps == Array(Set(steps)).sorted(), "\(tag): steps \(steps)")
        }
    }

    @Test func twoRanksLogTheSameEvents() throws {
        let run = Self.folder.appendingPathComponent("two-ranks")
        let result = try VAEProcess.mpirun([(2, ["train", "--run-dir", run.path, "--epochs", "2"] + Self.job)])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(try Self.read(run).timeless == Self.straight.1.timeless)
    }

    @Test func noTensorBoardWritesNone() throws {
        let run = Self.folder.appendingPathComponent("without")
        try Self.train(run, ["--epochs", "1", "--no-tensorboard"])
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("tensorboard").path))
        expectRefusal(try VAEProcess.run(["train", "--run-dir", run.path, "--resume", "--tensorboard-every", "0"]),
                      "--tensorboard-every")
    }
}

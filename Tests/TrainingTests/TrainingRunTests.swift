import Checkpoint
import Dataset
import Foundation
import Testing
import Training

/// Short runs on the first images of the bundled MNIST: the loss falls, and a run stopped and
/// resumed from any checkpoint ends bit for bit where a straight run ends.
@Suite(.serialized)
struct TrainingRunTests {
    static let mnist = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/mnist")
    static let data = try! ImageSet.load(.train, from: mnist)
    static let test = try! ImageSet.load(.test, from: mnist)

    static func configuration(epochs: Int) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.limit = 600            // 10 steps of 64, the last one partial (24 images)
        c.batchSize = 64
        c.checkpointEvery = 3
        c.keepCheckpoints = 100
        c.testImages = 300
        return c
    }

    static func temporaryRun() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vae-training-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func freshState(_ c: TrainingConfiguration) -> TrainingState {
        TrainingState(layout: .init(shape: c.shape), seed: c.seed, adam: c.adam)
    }

    /// The metrics of a run without its wall-clock figures, which differ between runs.
    static func metricsLines(_ run: URL) throws -> [EpochMetrics] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            var m = try JSONDecoder().decode(EpochMetrics.self, from: Data(line.utf8))
            (m.imagesPerSecond, m.seconds, m.allReduceMillisecondsPerStep) = (0, 0, 0)
            return m
        }
    }

    @Test func lossFallsAndMetricsAreWrittenPerEpoch() throws {
        let run = try Self.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let c = Self.configuration(epochs: 3)
        let trainer = Trainer(configuration: c, data: Self.data, testData: Self.test, state: Self.freshState(c), runDirectory: run, observer: nil)
        #expect(try trainer.run() == .completed)
        let lines = try Self.metricsLines(run)
        #expect(lines.map(\.epoch) == [1, 2, 3])
        #expect(lines.map(\.step) == [10, 20, 30])
        let losses = lines.map(\.loss)
        #expect(losses[0] > losses[1] && losses[1] > losses[2], "loss should fall: \(losses)")
        #expect(losses[0] < 600 && losses[2] < 0.7 * losses[0], "losses \(losses)")
        let testLosses = lines.compactMap { $0.test?.loss }
        #expect(testLosses.count == 3 && testLosses[0] > testLosses[2], "test loss should fall: \(testLosses)")
        for line in lines {
            #expect(abs(line.loss - line.reconstructionLoss - line.klLoss) < 1e-3)
            #expect(line.test?.images == 300)
        }
        #expect(trainer.state.parameters.allSatisfy { $0.isFinite })
    }

    @Test func resumedRunsEqualAStraightRunBitForBit() throws {
        let straight = try Self.temporaryRun()
        defer { try? FileManager.default.removeItem(at: straight) }
        let c = Self.configuration(epochs: 3)
        let reference = Trainer(configuration: c, data: Self.data, testData: Self.test, state: Self.freshState(c), runDirectory: straight, observer: nil)
        #expect(try reference.run() == .completed)
        let store = CheckpointStore(directory: straight.appendingPathComponent("checkpoints"))
        // Every third step and every epoch's end: mid-epoch positions and boundaries.
        #expect(try store.steps() == [3, 6, 9, 10, 12, 15, 18, 20, 21, 24, 27, 30])

        for resumeStep in [6, 10, 21] {
            // A run directory holding what the straight run had written up to that step.
            let run = try Self.temporaryRun()
            defer { try? FileManager.default.removeItem(at: run) }
            let checkpoints = run.appendingPathComponent("checkpoints")
            try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: store.url(forStep: resumeStep),
                                             to: checkpoints.appendingPathComponent(store.url(forStep: resumeStep).lastPathComponent))
            try FileManager.default.copyItem(at: straight.appendingPathComponent("metrics.jsonl"),
                                             to: run.appendingPathComponent("metrics.jsonl"))

            let file = try #require(try CheckpointStore(directory: checkpoints).newestValid(warn: { _ in }))
            let contents = try TrainingCheckpoint.load(file)
            let (state, identity, testImages) = (contents.state, contents.metadata.identity, contents.metadata.settings.testImages)
            #expect(contents.metadata.settings.epochs == 3)
            #expect(testImages == c.testImages)
            #expect(identity == RunIdentity(c, dataset: Self.data.fingerprint))
            #expect(state.step == resumeStep)
            let resumed = Trainer(configuration: c, data: Self.data, testData: Self.test, state: state, runDirectory: run, observer: nil)
            #expect(try resumed.run() == .completed)

            #expect(resumed.state.parameters == reference.state.parameters, "parameters after resuming at step \(resumeStep)")
            #expect(resumed.state.adam.m == reference.state.adam.m && resumed.state.adam.v == reference.state.adam.v)
            #expect(resumed.state.step == reference.state.step)
            #expect(try Self.metricsLines(run) == (try Self.metricsLines(straight)), "metrics after resuming at step \(resumeStep)")
        }
    }

    @Test func sameSeedSameRunOtherSeedOtherRun() throws {
        var c = Self.configuration(epochs: 1)
        c.checkpointEvery = nil
        func train(_ c: TrainingConfiguration) throws -> [Float] {
            let run = try Self.temporaryRun()
            defer { try? FileManager.default.removeItem(at: run) }
            let trainer = Trainer(configuration: c, data: Self.data, testData: Self.test, state: Self.freshState(c), runDirectory: run, observer: nil)
            #expect(try trainer.run() == .completed)
            return trainer.state.parameters
        }
        let first = try train(c)
        #expect(try train(c) == first)
        c.seed = 2
        #expect(try train(c) != first)
    }

    @Test func threadCountDoesNotChangeTheResult() throws {
        var c = Self.configuration(epochs: 1)
        c.checkpointEvery = nil
        var results: [[Float]] = []
        var metrics: [[EpochMetrics]] = []
        for threads in [1, 2, 3] {
            c.threads = threads
            let run = try Self.temporaryRun()
            defer { try? FileManager.default.removeItem(at: run) }
            let trainer = Trainer(configuration: c, data: Self.data, testData: Self.test, state: Self.freshState(c),
                                  runDirectory: run, observer: nil)
            #expect(try trainer.run() == .completed)
            results.append(trainer.state.parameters)
            metrics.append(try Self.metricsLines(run))
        }
        #expect(results[1].map(\.bitPattern) == results[0].map(\.bitPattern), "2 threads differ from 1")
        #expect(results[2].map(\.bitPattern) == results[0].map(\.bitPattern), "3 threads differ from 1")
        #expect(metrics[1] == metrics[0] && metrics[2] == metrics[0])
    }

    @Test func checkpointRecordsPositionAndSettings() throws {
        let run = try Self.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        var c = Self.configuration(epochs: 1)
        c.checkpointEvery = nil
        c.keepCheckpoints = 1
        #expect(try Trainer(configuration: c, data: Self.data, testData: Self.test, state: Self.freshState(c), runDirectory: run, observer: nil).run() == .completed)
        let store = CheckpointStore(directory: run.appendingPathComponent("checkpoints"))
        #expect(try store.steps() == [10])
        let file = try SafeTensors.read(store.url(forStep: 10), requireChecksum: true)
        let m = file.metadata
        #expect(m["step"] == "10" && m["epoch"] == "1" && m["step_in_epoch"] == "0")
        #expect(m["latent_dim"] == "2" && m["batch_size"] == "64" && m["learning_rate"] == "0.001")
        #expect(m["seed"] == "1" && m["world_size"] == "1" && m["limit"] == "600")
        #expect(m["dataset_sha256"] == Self.data.fingerprint)
        // Keras names and layouts, and the optimiser state beside them.
        #expect(file.shape(of: "decoder.deconv2.kernel") == [3, 3, 32, 64])
        #expect(file.shape(of: "optimizer.m.decoder.deconv2.kernel") == [3, 3, 32, 64])
        #expect(file.shape(of: "optimizer.v.encoder.conv1.bias") == [32])
        #expect(file.names.count == 3 * 18)
    }
}

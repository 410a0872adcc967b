import Checkpoint
import Distributed
import Foundation
import Synchronization
import Testing
import Training

/// A stop request ends a run after a whole step with a checkpoint of it, and the run resumed
/// from there ends where an uninterrupted one does; a non-finite gradient stops training
/// before it touches the parameters or any checkpoint.
@Suite(.serialized)
struct StopAndFailureTests {
    typealias Run = TrainingRunTests

    /// A flag the trainer polls once a step, raised once `step` steps have been asked about.
    final class StopAfter: Sendable {
        let polls = Atomic<Int>(0)
        let step: Int
        init(step: Int) { self.step = step }
        func poll() -> Bool { polls.add(1, ordering: .relaxed).newValue >= step }
    }

    static func trainer(_ c: TrainingConfiguration, _ run: URL, state: TrainingState? = nil) -> Trainer {
        Trainer(configuration: c, data: Run.data, testData: Run.test, state: state ?? Run.freshState(c), runDirectory: run, observer: nil)
    }

    static func resume(_ c: TrainingConfiguration, _ run: URL) throws -> Trainer {
        let file = try #require(try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).newestValid(warn: { _ in }))
        return trainer(c, run, state: try TrainingCheckpoint.load(file).state)
    }

    /// Steps 4 (mid-epoch) and 10 (an epoch's last step, whose end is finished first).
    @Test(arguments: [4, 10])
    func stoppedRunResumesToTheUninterruptedResult(stopStep: Int) throws {
        var c = Run.configuration(epochs: 2)
        c.checkpointEvery = nil
        let straightRun = try Run.temporaryRun(), stoppedRun = try Run.temporaryRun()
        defer { for url in [straightRun, stoppedRun] { try? FileManager.default.removeItem(at: url) } }
        let straight = Self.trainer(c, straightRun)
        #expect(try straight.run() == .completed)

        let stopper = StopAfter(step: stopStep)
        let stopped = Self.trainer(c, stoppedRun)
        stopped.stopRequested = { stopper.poll() }
        #expect(try stopped.run() == .interrupted(step: stopStep))
        let store = CheckpointStore(directory: stoppedRun.appendingPathComponent("checkpoints"))
        #expect(try store.steps().last == stopStep, "the stop's checkpoint is its step")

        let resumed = try Self.resume(c, stoppedRun)
        #expect(try resumed.run() == .completed)
        #expect(resumed.state.parameters.map(\.bitPattern) == straight.state.parameters.map(\.bitPattern))
        #expect(resumed.state.adam.v == straight.state.adam.v)
        #expect(try Run.metricsLines(stoppedRun) == Run.metricsLines(straightRun))
    }

    @Test func stopDuringTheLastStepCompletesTheRun() throws {
        let c = Run.configuration(epochs: 1)
        let run = try Run.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let trainer = Self.trainer(c, run)
        let stopper = StopAfter(step: 10)
        trainer.stopRequested = { stopper.poll() }
        #expect(try trainer.run() == .completed)
    }

    @Test func nonFiniteGradientStopsBeforeTheUpdateAndKeepsTheLastCheckpoint() throws {
        var c = Run.configuration(epochs: 2)
        c.checkpointEvery = 4
        let run = try Run.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let trainer = Self.trainer(c, run)
        trainer.faults = try Faults(parsing: "nan-gradient@14")
        let error = #expect(throws: AgreedFailure.self) { try trainer.run() }
        let message = String(describing: error!)
        #expect(message.contains("step 14 (epoch 2)") && message.contains("not finite") && message.contains("step 12"), "\(message)")
        #expect(trainer.state.step == 13, "the poisoned step was not applied")
        #expect(trainer.state.parameters.allSatisfy { $0.isFinite })
        let store = CheckpointStore(directory: run.appendingPathComponent("checkpoints"))
        #expect(try store.steps() == [4, 8, 10, 12])
        for step in try store.steps() {
            let state = try TrainingCheckpoint.load(SafeTensors.read(store.url(forStep: step), requireChecksum: true)).state
            #expect(state.parameters.allSatisfy { $0.isFinite } && state.adam.v.allSatisfy { $0.isFinite })
        }
    }

    @Test func aStateThatIsNotFiniteIsNeverSaved() throws {
        let c = Run.configuration(epochs: 1)
        let run = try Run.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        var state = Run.freshState(c)
        state.parameters[7] = .infinity
        let store = CheckpointStore(directory: run)
        #expect(throws: TrainingError.self) {
            try TrainingCheckpoint.save(state, configuration: c, dataset: Run.data.fingerprint, worldSize: 1, to: store)
        }
        #expect(try store.steps().isEmpty)
    }

    @Test func leftoversOfAnInterruptedSaveAreRemovedAtTheStart() throws {
        let c = Run.configuration(epochs: 1)
        let run = try Run.temporaryRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let checkpoints = run.appendingPathComponent("checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let leftover = checkpoints.appendingPathComponent(".step-000000003.safetensors.tmp-123-456")
        let stranger = checkpoints.appendingPathComponent("notes.txt")
        try Data("half a checkpoint".utf8).write(to: leftover)
        try Data("the user's".utf8).write(to: stranger)
        #expect(try Self.trainer(c, run).run() == .completed)
        #expect(!FileManager.default.fileExists(atPath: leftover.path))
        #expect(FileManager.default.fileExists(atPath: stranger.path), "files that are not leftovers stay")
    }

    @Test(arguments: ["nan-gradient", "nan-gradient@", "nan-gradient@x", "crash-saving@3/1", "explode@3", "nan-gradient@-1",
                      "freeze-in-sum@9/1/2", "stall@"])
    func unreadableFaultsAreRefused(text: String) {
        #expect(throws: TrainingError.self) { try Faults(parsing: text) }
    }

    @Test func faultsAreReadWithTheirStepAndRank() throws {
        let faults = try Faults(parsing: "freeze-in-sum@9/1,freeze-saving@8,stall@3/2")
        #expect(faults.freezeInSum?.step == 9 && faults.freezeInSum?.rank == 1)
        #expect(faults.freezeSaving?.step == 8 && faults.freezeSaving?.rank == 0)
        #expect(faults.stall?.step == 3 && faults.stall?.rank == 2)
        #expect(faults.nanGradient == nil && faults.crashSaving == nil)
    }
}

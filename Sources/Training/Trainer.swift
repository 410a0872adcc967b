import Checkpoint
import Dataset
import Distributed
import Foundation
import Kernels
import Model

/// Runs the schedule: epochs of shuffled global batches, a `TrainingStep` each (its gradients
/// summed exactly, one Adam update), and at each epoch's end the test scoring, the replicas'
/// check, the metrics line and a checkpoint (saved too every `checkpointEvery` steps and at a
/// requested stop).
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let model: VAE
    public private(set) var state: TrainingState
    let data: ImageSet
    let testData: ImageSet?
    let store: CheckpointStore
    let metrics: MetricsLog
    let communicator: Communicator
    /// Only rank 0 reports; the other ranks stay quiet.
    weak var observer: TrainingObserver?
    /// Asked once a step (a signal handler's flag). When it says yes on any rank, every rank
    /// stops after the same step and rank 0 saves a checkpoint of it.
    public var stopRequested: @Sendable () -> Bool = { false }
    /// Failures injected by tests; none in normal use.
    public var faults = Faults()
    /// The step of the newest checkpoint this run saved (known on every rank).
    public private(set) var lastSavedStep: Int?

    /// Number of training images used.
    public var imageCount: Int { min(configuration.limit ?? data.count, data.count) }
    public var stepsPerEpoch: Int { (imageCount + configuration.batchSize - 1) / configuration.batchSize }

    public init(configuration: TrainingConfiguration, data: ImageSet, testData: ImageSet? = nil, state: TrainingState,
                runDirectory: URL, communicator: Communicator = SingleProcess(), observer: TrainingObserver?) {
        // Its sizes bound the buffers and collectives below: the caller has checked it.
        precondition((try? configuration.validate()) != nil, "a trainer needs a configuration that validate() accepts")
        precondition(state.parameters.count == ParameterLayout(shape: configuration.shape).count,
                     "the state's parameters are not laid out for \(configuration.shape)")
        self.communicator = communicator
        self.testData = testData
        self.configuration = configuration
        self.data = data
        self.state = state
        model = VAE(shape: configuration.shape)
        store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))
        metrics = MetricsLog(url: runDirectory.appendingPathComponent("metrics.jsonl"))
        self.observer = communicator.isRoot ? observer : nil
    }

    /// The checkpoint a failure leaves the user, as its messages name it.
    private var newestCheckpoint: String { lastSavedStep.map { "step \($0)" } ?? "none saved by this run" }

    /// Trains until `configuration.epochs` epochs are complete, or until a stop is requested.
    public func run() throws -> TrainingOutcome {
        if communicator.isRoot {
            try metrics.truncate(after: state.epoch)
            try store.removeLeftovers()
        }
        let workers = WorkerThreads(count: configuration.threads, model: model, microBatchSize: configuration.microBatchSize)
        let step = TrainingStep(model: model, configuration: configuration, stepsPerEpoch: stepsPerEpoch, data: data, workers: workers,
                                communicator: communicator, faults: faults)
        let scoring = TestScoring(model: model, configuration: configuration, testData: testData, workers: workers,
                                  communicator: communicator)
        do {
            while state.epoch < configuration.epochs {
                if try runEpoch(step, scoring) == .stopped && state.epoch < configuration.epochs {
                    return .interrupted(step: state.step)
                }
            }
        } catch var timeout as CollectiveTimeout {
            timeout.context = state.stepInEpoch == stepsPerEpoch ? " at the end of epoch \(state.epoch + 1)"
                : " of step \(state.step + 1) (epoch \(state.epoch + 1))"
            timeout.note = "; the newest checkpoint (\(newestCheckpoint)) is kept"
            throw timeout
        }
        return .completed
    }

    private enum EpochEnd { case finished, stopped }

    private func runEpoch(_ step: TrainingStep, _ scoring: TestScoring?) throws -> EpochEnd {
        let batchSize = configuration.batchSize
        let order = Philox(seed: configuration.seed).permutation(count: imageCount, epoch: state.epoch)
        let started = ContinuousClock.now
        let collectiveTimeBefore = step.collectiveTime
        var imagesThisSession = 0
        var stop = false
        while state.stepInEpoch < stepsPerEpoch {
            let first = state.stepInEpoch * batchSize
            let batch = order[first..<min(first + batchSize, imageCount)]
            guard let done = try step.run(on: batch, state: &state, stopRequested: stopRequested) else {
                throw AgreedFailure("training diverged at step \(state.step + 1) (epoch \(state.epoch + 1)): a loss or gradient is not finite or exceeds 2^\(BlockExactSum.exponentLimit); the step was not applied and the newest checkpoint (\(newestCheckpoint)) is kept; try a lower --learning-rate")
            }
            stop = done.stop
            state.epochTotals.reconstruction += done.reconstruction
            state.epochTotals.kl += done.kl
            state.epochTotals.steps += 1
            state.stepInEpoch += 1
            imagesThisSession += batch.count
            let seconds = (ContinuousClock.now - started).seconds
            let means = epochMeans
            observer?.stepFinished(StepProgress(
                epoch: state.epoch + 1, epochs: configuration.epochs, stepInEpoch: state.stepInEpoch,
                stepsPerEpoch: stepsPerEpoch, loss: means.loss, reconstructionLoss: means.reconstruction, klLoss: means.kl,
                imagesPerSecond: Double(imagesThisSession) / max(seconds, 1e-9),
                remainingImages: (imageCount - min(state.stepInEpoch * batchSize, imageCount))
                    + (configuration.epochs - state.epoch - 1) * imageCount))
            // The epoch's end saves a checkpoint anyway: a stop at its last step waits for it.
            guard state.stepInEpoch < stepsPerEpoch else { break }
            if stop {
                try saveCheckpoint()
                return .stopped
            }
            if let every = configuration.checkpointEvery, state.step % every == 0 {
                try saveCheckpoint()
            }
        }
        try finishEpoch(scoring, started: started, images: imagesThisSession,
                        allReduceTime: step.collectiveTime - collectiveTimeBefore)
        return stop ? .stopped : .finished
    }

    /// Scores the test images, writes the epoch's metrics line and saves its checkpoint.
    private func finishEpoch(_ scoring: TestScoring?, started: ContinuousClock.Instant, images imagesThisSession: Int,
                             allReduceTime: Duration) throws {
        let seconds = (ContinuousClock.now - started).seconds
        var test: TestLosses?
        if let scoring {
            guard let losses = try scoring.score(state.parameters) else {
                throw AgreedFailure("test losses are not finite after epoch \(state.epoch + 1)")
            }
            test = losses
        }
        let means = epochMeans, steps = state.epochTotals.steps
        let line = EpochMetrics(
            epoch: state.epoch + 1, step: state.step,
            loss: means.loss, reconstructionLoss: means.reconstruction, klLoss: means.kl,
            imagesPerSecond: Double(imagesThisSession) / max(seconds, 1e-9), seconds: seconds,
            allReduceMillisecondsPerStep: allReduceTime.seconds * 1000 / Double(max(steps, 1)),
            test: test)
        try checkReplicasAgree()
        state.epoch += 1
        state.stepInEpoch = 0
        state.epochTotals = EpochTotals()
        // Rank 0 now writes the metrics, any outputs and the checkpoint: the other ranks wait for
        // it in their next collective.
        communicator.expectSlowPeers()
        if communicator.isRoot { try metrics.append(line) }
        try observer?.epochFinished(line)
        try saveCheckpoint()
    }

    /// The epoch's running means of the steps' mean losses (as Keras reports an epoch's loss).
    private var epochMeans: (loss: Double, reconstruction: Double, kl: Double) {
        let totals = state.epochTotals, steps = Double(totals.steps)
        return (configuration.objective(totals.reconstruction, totals.kl) / steps, totals.reconstruction / steps,
                totals.kl / steps)
    }

    /// Only rank 0 writes.
    private func saveCheckpoint() throws {
        faults.freezeIfSaving(step: state.step, rank: communicator.rank)
        lastSavedStep = state.step
        guard communicator.isRoot else { return }
        let step = state.step
        _ = try TrainingCheckpoint.save(state, configuration: configuration, dataset: data.fingerprint,
                                        worldSize: communicator.size, to: store,
                                        beforeRename: { faults.crashIfSaving(step: step) })
    }

    /// Replicas must hold identical parameters; a cheap checksum compared across ranks every
    /// epoch catches any divergence before it is written to a checkpoint.
    private func checkReplicasAgree() throws {
        let checksum = state.parameters.withUnsafeBytes { stableChecksum($0) }
        guard try communicator.allAgree(on: checksum, label: "parameter check") else {
            throw AgreedFailure("replicas diverged: parameter checksums differ between ranks after epoch \(state.epoch + 1); stopping before anything is written")
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

import Checkpoint
import Dataset
import Distributed
import Dispatch
import Foundation
import Kernels
import Model

/// Runs the schedule: shuffled global batches, each cut into fixed micro-batches whose
/// gradients are summed exactly, one Adam update per batch, metrics and checkpoints per epoch.
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
        precondition(state.parameters.count == ParameterLayout(latentDimension: configuration.latentDimension).count,
                     "the state's parameters are not laid out for latent dimension \(configuration.latentDimension)")
        self.communicator = communicator
        self.testData = testData
        self.configuration = configuration
        self.data = data
        self.state = state
        model = VAE(latentDimension: configuration.latentDimension)
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
        let workers = Workers(self)
        do {
            while state.epoch < configuration.epochs {
                if try runEpoch(workers) == .stopped && state.epoch < configuration.epochs {
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

    /// What the threads of this rank reuse every step: a thread's inputs and workspace, and its
    /// part of the exact sums of the gradients and of the test losses.
    private struct Workers {
        let buffers: [StepBuffers]
        let gradients: ExactAllReduce<LossTerm>
        let testLosses: ExactAllReduce<LossTerm>

        init(_ trainer: Trainer) {
            let c = trainer.configuration, model = trainer.model, communicator = trainer.communicator
            buffers = (0..<c.threads).map { _ in StepBuffers(model: model, microBatch: c.microBatchSize) }
            /// The most of `items` one thread of this rank computes.
            func perThread(_ items: Int) -> Int {
                let perRank = (items + communicator.size - 1) / communicator.size
                return max(1, (perRank + c.threads - 1) / c.threads)
            }
            // A thread holds each of its micro-batches' gradients until the step's exponents
            // are agreed on: at most its share of a full batch. Each tensor is a block. The
            // micro-batches of a full batch, fixed by the run's identity, choose the encoding.
            let microBatches = MicroBatchPlan(images: c.batchSize, microBatchSize: c.microBatchSize).count
            // The decoder's last layers' gradients are summed while the rest of the backward
            // pass runs.
            gradients = ExactAllReduce(blocks: model.layout.specs.map(\.range), earlyStarts: model.gradientsFinalOffsets,
                                       terms: microBatches, parts: c.threads, termsPerPart: perThread(microBatches),
                                       communicator: communicator)
            let chunks = (c.testImages + c.microBatchSize - 1) / c.microBatchSize
            testLosses = ExactAllReduce(blocks: [], terms: max(1, chunks), parts: c.threads, termsPerPart: perThread(chunks),
                                        communicator: communicator, purpose: "test scoring")
        }
    }

    private enum EpochEnd { case finished, stopped }

    private func runEpoch(_ workers: Workers) throws -> EpochEnd {
        let batchSize = configuration.batchSize
        let order = Philox(seed: configuration.seed).permutation(count: imageCount, epoch: state.epoch)
        let started = ContinuousClock.now
        let collectiveTimeBefore = workers.gradients.collectiveTime
        var imagesThisSession = 0
        var stop = false
        while state.stepInEpoch < stepsPerEpoch {
            let first = state.stepInEpoch * batchSize
            let batch = order[first..<min(first + batchSize, imageCount)]
            let (reconstruction, kl, stopAfterThisStep) = try trainStep(on: batch, workers)
            stop = stopAfterThisStep
            state.epochTotals.reconstruction += reconstruction
            state.epochTotals.kl += kl
            state.epochTotals.steps += 1
            state.stepInEpoch += 1
            imagesThisSession += batch.count
            let seconds = (ContinuousClock.now - started).seconds
            let totals = state.epochTotals
            observer?.stepFinished(StepProgress(
                epoch: state.epoch + 1, epochs: configuration.epochs, stepInEpoch: state.stepInEpoch,
                stepsPerEpoch: stepsPerEpoch, loss: objective(totals.reconstruction, totals.kl) / Double(totals.steps),
                reconstructionLoss: totals.reconstruction / Double(totals.steps), klLoss: totals.kl / Double(totals.steps),
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
        try finishEpoch(workers, started: started, images: imagesThisSession,
                        allReduceTime: workers.gradients.collectiveTime - collectiveTimeBefore)
        return stop ? .stopped : .finished
    }

    /// Scores the test images, writes the epoch's metrics line and saves its checkpoint.
    private func finishEpoch(_ workers: Workers, started: ContinuousClock.Instant, images imagesThisSession: Int,
                             allReduceTime: Duration) throws {
        let seconds = (ContinuousClock.now - started).seconds
        let totals = state.epochTotals
        let line = EpochMetrics(
            epoch: state.epoch + 1, step: state.step,
            loss: objective(totals.reconstruction, totals.kl) / Double(totals.steps),
            reconstructionLoss: totals.reconstruction / Double(totals.steps), klLoss: totals.kl / Double(totals.steps),
            imagesPerSecond: Double(imagesThisSession) / max(seconds, 1e-9), seconds: seconds,
            allReduceMillisecondsPerStep: allReduceTime.seconds * 1000 / Double(max(totals.steps, 1)),
            test: try scoreTestImages(workers))
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

    /// One optimiser step on the images `batch` (dataset indices). Returns the batch's mean
    /// reconstruction and KL losses, and whether any rank asked to stop after this step.
    ///
    /// The batch is cut into micro-batches of a fixed size at fixed places; each rank computes a
    /// contiguous share of them (split again between its threads), and their gradients meet in an
    /// exact integer sum. So every rank ends with the same total whatever the world size or the
    /// thread count, and bit for bit what one process with one thread gets.
    private func trainStep(on batch: ArraySlice<Int32>, _ workers: Workers) throws -> (Double, Double, stop: Bool) {
        let latent = model.latentDimension, epoch = state.epoch, micro = configuration.microBatchSize
        let random = Philox(seed: configuration.seed)
        let scale = 1 / Float(batch.count)
        let share = MicroBatchPlan(images: batch.count, microBatchSize: micro).share(rank: communicator.rank, of: communicator.size)
        let poisoned = faults.poisonsGradient(step: state.step + 1, rank: communicator.rank) ? share.first : nil
        let sum = workers.gradients
        faults.stallIfDue(step: state.step + 1, rank: communicator.rank)
        if faults.freezesInSum(step: state.step + 1, rank: communicator.rank) { communicator.stopInside(nextCollective: "exact sum") }
        sum.start()
        state.parameters.withUnsafeBufferPointer { parameters in
            Self.inParallel(workers.buffers.count, over: share) { w, microBatches in
                let b = workers.buffers[w], part = sum.parts[w]
                for microBatch in microBatches {
                    let start = batch.startIndex + microBatch * micro
                    let end = min(start + micro, batch.endIndex)
                    for (j, index) in batch[start..<end].enumerated() {
                        let i = Int(index)
                        data.lowResolution(i, into: b.inputs + j * VAE.inputPixels)
                        data.target(i, into: b.targets + j * VAE.outputPixels)
                        random.normals(.noise, item: UInt32(epoch), index: UInt64(i), count: latent, into: b.eps + j * latent)
                    }
                    let term = part.nextTerm()
                    let last = microBatch == microBatches.last
                    let sums = model.trainingStep(parameters: parameters.baseAddress!, gradients: term.values, inputs: b.inputs,
                                                  targets: b.targets, eps: b.eps, batch: end - start, lossScale: scale,
                                                  klWeight: configuration.klWeight, workspace: b.workspace,
                                                  gradientsFinal: { if last { part.finalValues(from: $0, of: term) } })
                    // The losses ride along with the gradients, so one exact sum serves both.
                    term[.reconstruction] = Float(sums.reconstruction) * scale
                    term[.kl] = Float(sums.kl) * scale
                    if microBatch == poisoned { term.values[0] = .nan }
                    guard part.add(term) else { return }
                }
            }
        }
        let marks = try sum.reduce(marks: stopRequested() ? .stop : [])
        guard !marks.contains(.failed) else {
            throw AgreedFailure("training diverged at step \(state.step + 1) (epoch \(state.epoch + 1)): a loss or gradient is not finite or exceeds 2^\(BlockExactSum.exponentLimit); the step was not applied and the newest checkpoint (\(newestCheckpoint)) is kept; try a lower --learning-rate")
        }
        state.applyGradients(sum.total)
        return (Double(sum.total(.reconstruction)), Double(sum.total(.kl)), marks.contains(.stop))
    }

    /// Deals `items` to `threads` threads in contiguous runs and runs `body` on each thread's
    /// run concurrently, with the thread's index.
    private static func inParallel(_ threads: Int, over items: Range<Int>, _ body: (Int, Range<Int>) -> Void) {
        guard !items.isEmpty else { return }
        let plan = MicroBatchPlan(images: items.count, microBatchSize: 1)
        // Each thread's buffers are touched by that thread only, and the parameters and the
        // data are only read while the threads run: nothing is shared mutably.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: threads) { w in
                let run = plan.share(rank: w, of: threads)
                body(w, (items.lowerBound + run.lowerBound)..<(items.lowerBound + run.upperBound))
            }
        }
    }

    /// Mean losses over the first `testImages` test images with this epoch's parameters, the
    /// work shared between ranks in fixed chunks and summed exactly (as gradients are), so the
    /// figures too are the same at every world size. Decodes z_mean, as evaluation does.
    private func scoreTestImages(_ workers: Workers) throws -> TestLosses? {
        guard let testData, configuration.testImages > 0 else { return nil }
        let count = min(configuration.testImages, testData.count)
        let chunk = configuration.microBatchSize
        let plan = MicroBatchPlan(images: count, microBatchSize: chunk)
        let sum = workers.testLosses
        sum.start()
        state.parameters.withUnsafeBufferPointer { parameters in
            Self.inParallel(workers.buffers.count, over: plan.share(rank: communicator.rank, of: communicator.size)) { w, chunks in
                let b = workers.buffers[w], part = sum.parts[w]
                for index in chunks {
                    let start = index * chunk, end = min(start + chunk, count)
                    for (j, i) in (start..<end).enumerated() {
                        testData.lowResolution(i, into: b.inputs + j * VAE.inputPixels)
                        testData.target(i, into: b.targets + j * VAE.outputPixels)
                    }
                    let losses = model.evaluate(parameters: parameters.baseAddress!, inputs: b.inputs, targets: b.targets,
                                                batch: end - start, workspace: b.workspace, reconstruction: nil)
                    let term = part.nextTerm()
                    term[.reconstruction] = Float(losses.reconstruction)
                    term[.kl] = Float(losses.kl)
                    guard part.add(term) else { return }
                }
            }
        }
        guard try !sum.reduce(marks: []).contains(.failed) else {
            throw AgreedFailure("test losses are not finite after epoch \(state.epoch + 1)")
        }
        let reconstruction = Double(sum.total(.reconstruction)) / Double(count), kl = Double(sum.total(.kl)) / Double(count)
        return TestLosses(loss: objective(reconstruction, kl), reconstructionLoss: reconstruction, klLoss: kl, images: count)
    }

    /// The loss being minimised: the seed's `reconstruction + kl` when the KL weight is 1.
    private func objective(_ reconstruction: Double, _ kl: Double) -> Double {
        reconstruction + Double(configuration.klWeight) * kl
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

/// The two terms of the loss: summed with each step's gradients, and over the test images.
enum LossTerm: Int, CaseIterable {
    case reconstruction, kl
}

/// What one worker thread reuses every step: a micro-batch's inputs and its workspace.
final class StepBuffers {
    let workspace: Workspace
    let inputs, targets, eps: UnsafeMutablePointer<Float>

    init(model: VAE, microBatch: Int) {
        workspace = Workspace(capacity: microBatch, latentDimension: model.latentDimension)
        inputs = .allocate(capacity: microBatch * VAE.inputPixels)
        targets = .allocate(capacity: microBatch * VAE.outputPixels)
        eps = .allocate(capacity: microBatch * model.latentDimension)
    }

    deinit {
        for buffer in [inputs, targets, eps] { buffer.deallocate() }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

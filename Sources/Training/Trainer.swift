import Checkpoint
import Dataset
import Distributed
import Dispatch
import Foundation
import Kernels
import Model

/// What a trainer tells whoever watches it (the console, tests).
public protocol TrainingObserver: AnyObject {
    func stepFinished(_ progress: StepProgress)
    func epochFinished(_ metrics: EpochMetrics) throws
    func checkpointSaved(_ url: URL)
}

public struct StepProgress: Sendable {
    public let epoch: Int            // 1-based, the epoch in progress
    public let epochs: Int
    public let stepInEpoch: Int      // steps done in this epoch
    public let stepsPerEpoch: Int
    public let loss: Double          // running epoch means
    public let reconstructionLoss: Double
    public let klLoss: Double
    public let imagesPerSecond: Double
    /// Images left to train on in the whole run, for an ETA.
    public let remainingImages: Int
}

/// One line of `metrics.jsonl`.
public struct EpochMetrics: Sendable, Codable, Equatable {
    public let epoch: Int            // 1-based
    public let step: Int
    public let loss: Double
    public let reconstructionLoss: Double
    public let klLoss: Double
    public var imagesPerSecond: Double
    public var seconds: Double
    /// Time each step spent combining gradients across ranks.
    public var allReduceMillisecondsPerStep: Double
    /// Losses on the test images at the epoch's end (decoding z_mean), if scored.
    public let test: TestLosses?

    enum CodingKeys: String, CodingKey {
        case epoch, step, loss, seconds
        case reconstructionLoss = "reconstruction_loss", klLoss = "kl_loss", imagesPerSecond = "images_per_second"
        case allReduceMillisecondsPerStep = "allreduce_ms_per_step"
        case test
    }
}

/// Mean losses over a set of test images.
public struct TestLosses: Sendable, Codable, Equatable {
    public let loss: Double
    public let reconstructionLoss: Double
    public let klLoss: Double
    public let images: Int

    enum CodingKeys: String, CodingKey {
        case loss, images
        case reconstructionLoss = "reconstruction_loss", klLoss = "kl_loss"
    }
}

/// Where a run of the trainer ended.
public enum TrainingOutcome: Sendable, Equatable {
    case completed
    /// Stopped on request after this step, every rank at the same one, with its checkpoint saved.
    case interrupted(step: Int)
}

/// Training failed in a way the user must hear about (divergence, I/O).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

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

    /// Trains until `configuration.epochs` epochs are complete, or until a stop is requested.
    public func run() throws -> TrainingOutcome {
        BLAS.useSingleThread()
        if communicator.isRoot {
            try metrics.truncate(after: state.epoch)
            try store.removeLeftovers()
        }
        // A worker holds each of its micro-batches' gradients until the step's exponents are
        // agreed on: at most its share of a full batch.
        let perRank = (MicroBatchPlan(images: configuration.batchSize, microBatchSize: configuration.microBatchSize).count
            + communicator.size - 1) / communicator.size
        let slots = max(1, (perRank + configuration.threads - 1) / configuration.threads)
        let workers = (0..<configuration.threads).map { _ in
            StepBuffers(model: model, microBatch: configuration.microBatchSize, gradientSlots: slots)
        }
        do {
            while state.epoch < configuration.epochs {
                if try runEpoch(workers) == .stopped && state.epoch < configuration.epochs {
                    return .interrupted(step: state.step)
                }
            }
        } catch var timeout as CollectiveTimeout {
            timeout.context = state.stepInEpoch == stepsPerEpoch ? " at the end of epoch \(state.epoch + 1)"
                : " of step \(state.step + 1) (epoch \(state.epoch + 1))"
            timeout.note = "; the newest checkpoint (\(lastSavedStep.map { "step \($0)" } ?? "none saved by this run")) is kept"
            throw timeout
        }
        return .completed
    }

    private enum EpochEnd { case finished, stopped }

    private func runEpoch(_ workers: [StepBuffers]) throws -> EpochEnd {
        let batchSize = configuration.batchSize
        let order = Philox(seed: configuration.seed).permutation(count: imageCount, epoch: state.epoch)
        let started = ContinuousClock.now
        var imagesThisSession = 0
        var allReduceTime = Duration.zero
        var stop = false
        while state.stepInEpoch < stepsPerEpoch {
            let first = state.stepInEpoch * batchSize
            let batch = order[first..<min(first + batchSize, imageCount)]
            let (reconstruction, kl, stopAfterThisStep) = try trainStep(on: batch, workers, allReduceTime: &allReduceTime)
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
        try finishEpoch(workers, started: started, images: imagesThisSession, allReduceTime: allReduceTime)
        return stop ? .stopped : .finished
    }

    /// Scores the test images, writes the epoch's metrics line and saves its checkpoint.
    private func finishEpoch(_ workers: [StepBuffers], started: ContinuousClock.Instant, images imagesThisSession: Int,
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
    private func trainStep(on batch: ArraySlice<Int32>, _ workers: [StepBuffers],
                           allReduceTime: inout Duration) throws -> (Double, Double, stop: Bool) {
        let latent = model.latentDimension, epoch = state.epoch, micro = configuration.microBatchSize
        let random = Philox(seed: configuration.seed)
        let scale = 1 / Float(batch.count)
        let parameterCount = model.layout.count
        let share = MicroBatchPlan(images: batch.count, microBatchSize: micro).share(rank: communicator.rank, of: communicator.size)
        let poisoned = faults.poisonsGradient(step: state.step + 1, rank: communicator.rank) ? share.first : nil
        for worker in workers { worker.startStep() }
        state.parameters.withUnsafeBufferPointer { parameters in
            Self.inParallel(workers, over: share) { b, microBatches in
                for microBatch in microBatches {
                    let start = batch.startIndex + microBatch * micro
                    let end = min(start + micro, batch.endIndex)
                    for (j, index) in batch[start..<end].enumerated() {
                        let i = Int(index)
                        data.lowResolution(i, into: b.inputs + j * VAE.inputPixels)
                        data.target(i, into: b.targets + j * VAE.outputPixels)
                        random.normals(.noise, item: UInt32(epoch), index: UInt64(i), count: latent, into: b.eps + j * latent)
                    }
                    let gradients = b.nextGradients()
                    let sums = model.trainingStep(parameters: parameters.baseAddress!, gradients: gradients, inputs: b.inputs,
                                                  targets: b.targets, eps: b.eps, batch: end - start, lossScale: scale,
                                                  klWeight: configuration.klWeight, workspace: b.workspace)
                    // The losses ride along with the gradients, so one exact sum serves both.
                    gradients[parameterCount] = Float(sums.reconstruction) * scale
                    gradients[parameterCount + 1] = Float(sums.kl) * scale
                    if microBatch == poisoned { gradients[0] = .nan }
                    guard b.sum.cover(gradients, exponents: &b.exponents) else {
                        b.failed = true
                        return
                    }
                }
            }
        }
        // One max over the ranks agrees on the exponents of the exact sum and carries two
        // marks, so that every rank learns in the same step whether any rank failed or was
        // asked to stop.
        let b = workers[0]
        var agreed = workers.dropFirst().reduce(b.exponents) { zip($0, $1.exponents).map { max($0, $1) } }
        agreed += [workers.contains(where: \.failed) ? 1 : 0, stopRequested() ? 1 : 0]
        let reduceStart = ContinuousClock.now
        try agreed.withUnsafeMutableBufferPointer { try communicator.allReduceMax($0, label: "exponent agreement") }
        allReduceTime += ContinuousClock.now - reduceStart
        guard agreed[b.exponents.count] == 0 else {
            let kept = lastSavedStep.map { "step \($0)" } ?? "none saved by this run"
            throw AgreedFailure("training diverged at step \(state.step + 1) (epoch \(state.epoch + 1)): a loss or gradient is not finite or exceeds 2^\(BlockExactSum.exponentLimit); the step was not applied and the newest checkpoint (\(kept)) is kept; try a lower --learning-rate")
        }
        let stop = agreed[b.exponents.count + 1] > 0
        let exponents = Array(agreed.prefix(b.exponents.count))
        Self.inParallel(workers, over: 0..<workers.count) { worker, _ in worker.addHeldGradients(exponents: exponents) }
        for worker in workers.dropFirst() { b.sum.add(worker.sum) }
        let sumStart = ContinuousClock.now
        try b.sum.withSums { try communicator.allReduceSum($0, label: "exact sum") }
        allReduceTime += ContinuousClock.now - sumStart
        b.sum.total(into: b.total, exponents: exponents)
        state.applyGradients(b.total)
        return (Double(b.total[parameterCount]), Double(b.total[parameterCount + 1]), stop)
    }

    /// Deals `items` to the workers in contiguous runs and runs `body` on each worker's run
    /// concurrently.
    private static func inParallel(_ workers: [StepBuffers], over items: Range<Int>,
                                   _ body: (StepBuffers, Range<Int>) -> Void) {
        guard !items.isEmpty else { return }
        let plan = MicroBatchPlan(images: items.count, microBatchSize: 1)
        // Each worker's buffers are touched by its own thread only, and the parameters and the
        // data are only read while the threads run: nothing is shared mutably.
        nonisolated(unsafe) let workers = workers
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: workers.count) { w in
                let run = plan.share(rank: w, of: workers.count)
                body(workers[w], (items.lowerBound + run.lowerBound)..<(items.lowerBound + run.upperBound))
            }
        }
    }

    /// Mean losses over the first `testImages` test images with this epoch's parameters, the
    /// work shared between ranks in fixed chunks and summed exactly (as gradients are), so the
    /// figures too are the same at every world size. Decodes z_mean, as evaluation does.
    private func scoreTestImages(_ workers: [StepBuffers]) throws -> TestLosses? {
        guard let testData, configuration.testImages > 0 else { return nil }
        let count = min(configuration.testImages, testData.count)
        let chunk = configuration.microBatchSize, testCount = count
        let plan = MicroBatchPlan(images: count, microBatchSize: chunk)
        for worker in workers { worker.testLosses.reset() }
        state.parameters.withUnsafeBufferPointer { parameters in
            Self.inParallel(workers, over: plan.share(rank: communicator.rank, of: communicator.size)) { b, chunks in
                for index in chunks {
                    let start = index * chunk, end = min(start + chunk, testCount)
                    for (j, i) in (start..<end).enumerated() {
                        testData.lowResolution(i, into: b.inputs + j * VAE.inputPixels)
                        testData.target(i, into: b.targets + j * VAE.outputPixels)
                    }
                    let losses = model.evaluate(parameters: parameters.baseAddress!, inputs: b.inputs, targets: b.targets,
                                                batch: end - start, workspace: b.workspace, reconstruction: nil)
                    let sums = [Float(losses.reconstruction), Float(losses.kl), 0]
                    guard b.testLosses.add(sums) else {
                        b.failed = true
                        return
                    }
                }
            }
        }
        for worker in workers.dropFirst() { workers[0].testLosses.add(worker.testLosses) }
        _ = workers[0].testLosses.add(workers.contains(where: \.failed) ? 1 : 0, at: 2)
        var totals: [Float] = [0, 0, 0]
        try workers[0].testLosses.withLimbs { try communicator.allReduceSum($0, label: "test scoring") }
        workers[0].testLosses.total(into: &totals)
        guard totals[2] == 0 else { throw AgreedFailure("test losses are not finite after epoch \(state.epoch + 1)") }
        let reconstruction = Double(totals[0]) / Double(count), kl = Double(totals[1]) / Double(count)
        return TestLosses(loss: objective(reconstruction, kl), reconstructionLoss: reconstruction, klLoss: kl, images: count)
    }

    /// The loss being minimised: the seed's `reconstruction + kl` when the KL weight is 1.
    private func objective(_ reconstruction: Double, _ kl: Double) -> Double {
        reconstruction + Double(configuration.klWeight) * kl
    }

    /// Only rank 0 writes.
    private func saveCheckpoint() throws {
        lastSavedStep = state.step
        guard communicator.isRoot else { return }
        let step = state.step
        let url = try TrainingCheckpoint.save(state, configuration: configuration, dataset: data.fingerprint,
                                              worldSize: communicator.size, to: store,
                                              beforeRename: { faults.crashIfSaving(step: step) })
        observer?.checkpointSaved(url)
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

/// What one worker thread reuses every step: a micro-batch's inputs, its workspace, the
/// gradients of its micro-batches (held until the step's exponents are agreed on), and its
/// share of the exact sum.
final class StepBuffers {
    let workspace: Workspace
    let inputs, targets, eps: UnsafeMutablePointer<Float>
    /// Room for `gradientSlots` micro-batches' gradients, each followed by its two loss terms;
    /// `held` of them are filled this step.
    private let gradients: UnsafeMutablePointer<Float>
    private let gradientSlots: Int
    private var held = 0
    /// The exact sum's total.
    let total: UnsafeMutablePointer<Float>
    var sum: BlockExactSum
    /// The exponents that cover this worker's gradients this step.
    var exponents: [Int64]
    /// Summed reconstruction and KL losses of the test images this worker scored, and a
    /// "failed" mark.
    var testLosses = ExactSum(count: 3)
    /// Set when a value could not be summed (not finite): the step must stop.
    var failed = false

    init(model: VAE, microBatch: Int, gradientSlots: Int) {
        workspace = Workspace(capacity: microBatch, latentDimension: model.latentDimension)
        inputs = .allocate(capacity: microBatch * VAE.inputPixels)
        targets = .allocate(capacity: microBatch * VAE.outputPixels)
        eps = .allocate(capacity: microBatch * model.latentDimension)
        // Each tensor is a block of the exact sum, and so is each loss term.
        let count = model.layout.count
        sum = BlockExactSum(blocks: model.layout.specs.map(\.range) + [count..<(count + 1), (count + 1)..<(count + 2)])
        self.gradientSlots = gradientSlots
        gradients = .allocate(capacity: gradientSlots * sum.count)
        total = .allocate(capacity: sum.count)
        exponents = sum.noExponents
    }

    func startStep() {
        held = 0
        exponents = sum.noExponents
        sum.reset()
    }

    /// The next micro-batch's gradient buffer.
    func nextGradients() -> UnsafeMutablePointer<Float> {
        precondition(held < gradientSlots, "more micro-batches than a worker holds")
        held += 1
        return gradients + (held - 1) * sum.count
    }

    func addHeldGradients(exponents: [Int64]) {
        for slot in 0..<held { sum.add(gradients + slot * sum.count, exponents: exponents) }
    }

    deinit {
        for buffer in [inputs, targets, eps, gradients, total] { buffer.deallocate() }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

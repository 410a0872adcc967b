import Dataset
import Distributed
import Kernels
import Model

/// One optimiser step on a global batch. The batch is cut into micro-batches of a fixed size at
/// fixed places; threads take them one at a time as they come free: the threads of every rank
/// when the ranks share one machine (from a counter in their shared memory), else each rank's
/// from a contiguous share of its own. Their gradients meet in an exact integer sum, whatever
/// computed them: so every rank ends with the same total whatever the world size or the thread
/// count, and bit for bit what one process with one thread gets.
final class TrainingStep {
    private let model: VAE
    private let configuration: TrainingConfiguration
    private let schedule: LearningRateSchedule
    private let data: ImageSet
    private let workers: WorkerThreads
    private let communicator: Communicator
    private let faults: Faults
    /// Every micro-batch's gradients, with its loss terms riding along: one exact sum serves both.
    private let sum: ExactAllReduce<LossTerm>

    init(model: VAE, configuration c: TrainingConfiguration, stepsPerEpoch: Int, data: ImageSet, workers: WorkerThreads,
         communicator: Communicator, faults: Faults) {
        self.model = model
        configuration = c
        schedule = c.cosineDecayEpochs.map { .cosineDecay(steps: $0 * stepsPerEpoch) } ?? .constant
        self.data = data
        self.workers = workers
        self.communicator = communicator
        self.faults = faults
        // A thread holds each of its micro-batches' gradients until the step's exponents are
        // agreed on: at most its rank's share of a full batch, or twice that when ranks take from
        // the machine's counter (a rank the machine slows leaves the rest to the others). Each
        // tensor is a block. The micro-batches of a full batch, fixed by the run's identity,
        // choose the encoding. The groups from where the model's backward pass says gradients are
        // final (the decoder's last layers) are summed while the rest of it runs.
        let microBatches = MicroBatchPlan(images: c.batchSize, microBatchSize: c.microBatchSize).count
        let share = workers.mostPerThread(of: microBatches, ranks: communicator.size)
        sum = ExactAllReduce(blocks: model.layout.specs.map(\.range), earlyStarts: model.gradientsFinalOffsets,
                             terms: microBatches, parts: workers.count,
                             termsPerPart: communicator.sharedCounters == nil ? share : min(microBatches, 2 * share),
                             communicator: communicator)
    }

    /// Time this rank waited in the gradients' collectives so far.
    var collectiveTime: Duration { sum.collectiveTime }

    /// The batch's mean losses, and whether any rank asked to stop after this step.
    struct Result {
        let reconstruction: Double, kl: Double, stop: Bool
    }

    /// Trains `state` on the images `batch` (dataset indices): applies the batch's summed
    /// gradient. `stopRequested` is asked once every thread is done, and the answer rides in the
    /// sum. Nil, with nothing applied, when on some rank a loss or gradient could not be summed
    /// (not finite, or too large).
    func run(on batch: ArraySlice<Int32>, state: inout TrainingState, stopRequested: () -> Bool) throws -> Result? {
        let latent = model.latentDimension, epoch = state.epoch, micro = configuration.microBatchSize
        let number = state.step + 1, rank = communicator.rank
        let random = Philox(seed: configuration.seed)
        let scale = 1 / Float(batch.count)
        let plan = MicroBatchPlan(images: batch.count, microBatchSize: micro)
        let share = plan.share(rank: rank, of: communicator.size)
        let dealer: Dealer
        // A step poisoned for a test deals rank by rank, so that its rank surely computes one.
        if let counters = communicator.sharedCounters, !faults.poisonsGradient(step: number) {
            // Step n takes from counter n % 2, and zeroes the other for step n + 1: every rank
            // took its last from that one in step n - 1, before the sum that step n follows.
            counters.store(0, in: (number + 1) % 2)
            dealer = MachineDealer(plan.count, counter: number % 2, of: counters)
        } else {
            dealer = RangeDealer(share)
        }
        let poisoned = faults.poisonsGradient(step: number, rank: rank) ? share.first : nil
        faults.stallIfDue(step: number, rank: rank)
        if faults.freezesInSum(step: number, rank: rank) { communicator.stopInside(nextCollective: "exact sum") }
        sum.start()
        state.parameters.withUnsafeBufferPointer { parameters in
            workers.inParallel(dealer: dealer) { w, microBatches in
                let b = workers.buffers[w], part = sum.parts[w]
                workers.help.compute(as: w) {
                    while !part.isFull, let microBatch = microBatches.take() {
                        let start = batch.startIndex + microBatch * micro
                        let images = batch[start..<min(start + micro, batch.endIndex)].lazy.map { Int($0) }
                        b.load(images, of: data)
                        for (j, i) in images.enumerated() {
                            random.normals(.noise, item: UInt32(epoch), index: UInt64(i), count: latent,
                                           into: b.eps + j * latent)
                        }
                        // The model writes the gradients straight into the part's term, and tells
                        // the part where they are final once no micro-batch is left to take: this
                        // is the thread's last. Threads done with theirs may compute pieces of it.
                        let term = part.nextTerm()
                        let sums = model.trainingStep(
                            parameters: parameters.baseAddress!, gradients: term.values, inputs: b.inputs,
                            targets: b.targets, eps: b.eps, batch: images.count, lossScale: scale,
                            klWeight: configuration.klWeight, precision: configuration.precision,
                            workspace: b.workspace, helpers: workers.help.boards[w],
                            gradientsFinal: { if microBatches.isEmpty || part.isFull { part.finalValues(from: $0, of: term) } })
                        term[.reconstruction] = Float(sums.reconstruction) * scale
                        term[.kl] = Float(sums.kl) * scale
                        if microBatch == poisoned { term.values[0] = .nan }
                        guard part.add(term) else { break }
                    }
                    part.finish()
                }
            }
        }
        let marks = try sum.reduce(marks: stopRequested() ? .stop : [])
        guard !marks.contains(.failed) else { return nil }
        state.applyGradients(sum.total, schedule: schedule)
        return Result(reconstruction: Double(sum.total(.reconstruction)), kl: Double(sum.total(.kl)), stop: marks.contains(.stop))
    }
}

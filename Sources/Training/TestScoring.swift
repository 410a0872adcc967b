import Dataset
import Distributed
import Model

/// The test losses of an epoch's parameters: mean losses over the first `testImages` test
/// images, the work shared between ranks (and their threads) in fixed chunks of a micro-batch
/// and summed exactly, as gradients are, so the figures too are the same at every world size.
/// Decodes z_mean, as evaluation does.
final class TestScoring {
    private let model: VAE
    private let configuration: TrainingConfiguration
    private let testData: ImageSet
    private let workers: WorkerThreads
    private let communicator: Communicator
    /// Images scored, and the images a chunk holds.
    private let count: Int, chunk: Int
    private let sum: ExactAllReduce<LossTerm>

    /// Nil when there is nothing to score.
    init?(model: VAE, configuration c: TrainingConfiguration, testData: ImageSet?, workers: WorkerThreads,
          communicator: Communicator) {
        guard let testData, c.testImages > 0 else { return nil }
        self.model = model
        configuration = c
        self.testData = testData
        self.workers = workers
        self.communicator = communicator
        count = min(c.testImages, testData.count)
        chunk = c.microBatchSize
        // The chunks of the run's --test-images, fixed by its settings, choose the encoding.
        let chunks = (c.testImages + chunk - 1) / chunk
        sum = ExactAllReduce(blocks: [], terms: max(1, chunks), parts: workers.count,
                             termsPerPart: workers.mostPerThread(of: chunks, ranks: communicator.size),
                             communicator: communicator, purpose: "test scoring")
    }

    /// Nil when on some rank a loss could not be summed (not finite, or too large).
    func score(_ parameters: [Float]) throws -> TestLosses? {
        let plan = MicroBatchPlan(images: count, microBatchSize: chunk)
        sum.start()
        parameters.withUnsafeBufferPointer { parameters in
            workers.inParallel(dealing: plan.share(rank: communicator.rank, of: communicator.size)) { w, chunks in
                let b = workers.buffers[w], part = sum.parts[w]
                while let index = chunks.take() {
                    let images = (index * chunk)..<min(index * chunk + chunk, count)
                    b.load(images, of: testData)
                    let losses = model.evaluate(parameters: parameters.baseAddress!, inputs: b.inputs, targets: b.targets,
                                                batch: images.count, workspace: b.workspace, reconstruction: nil)
                    let term = part.nextTerm()
                    term[.reconstruction] = Float(losses.reconstruction)
                    term[.kl] = Float(losses.kl)
                    guard part.add(term) else { break }
                }
                part.finish()
            }
        }
        guard try !sum.reduce(marks: []).contains(.failed) else { return nil }
        let reconstruction = Double(sum.total(.reconstruction)) / Double(count), kl = Double(sum.total(.kl)) / Double(count)
        return TestLosses(loss: configuration.objective(reconstruction, kl), reconstructionLoss: reconstruction, klLoss: kl,
                          images: count)
    }
}

import Dataset
import Dispatch
import Model

/// The threads of this rank that share out a step's micro-batches (and the test images), each
/// with buffers of its own.
final class WorkerThreads {
    let buffers: [StepBuffers]
    var count: Int { buffers.count }

    init(count: Int, model: VAE, microBatchSize: Int) {
        buffers = (0..<count).map { _ in StepBuffers(model: model, microBatch: microBatchSize) }
    }

    /// The most of `items`, shared between `ranks` ranks and then between these threads, that
    /// one thread computes: what its part of an exact sum must hold.
    func mostPerThread(of items: Int, ranks: Int) -> Int {
        let perRank = (items + ranks - 1) / ranks
        return max(1, (perRank + count - 1) / count)
    }

    /// Deals `items` to the threads in contiguous runs and runs `body` on each thread's run
    /// concurrently, with the thread's index.
    func inParallel(over items: Range<Int>, _ body: (_ thread: Int, _ run: Range<Int>) -> Void) {
        guard !items.isEmpty else { return }
        let plan = MicroBatchPlan(images: items.count, microBatchSize: 1), threads = count
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
}

/// What one worker thread reuses every step: a micro-batch's inputs and its workspace.
final class StepBuffers {
    let workspace: Workspace
    let inputs, targets, eps: UnsafeMutablePointer<Float>

    init(model: VAE, microBatch: Int) {
        workspace = Workspace(capacity: microBatch, shape: model.shape)
        inputs = .allocate(capacity: microBatch * VAE.inputPixels)
        targets = .allocate(capacity: microBatch * VAE.outputPixels)
        eps = .allocate(capacity: microBatch * model.latentDimension)
    }

    deinit {
        for buffer in [inputs, targets, eps] { buffer.deallocate() }
    }

    /// Puts the images `indices` of `data` in `inputs` (low resolution) and `targets`, in order.
    func load<Indices: Sequence<Int>>(_ indices: Indices, of data: ImageSet) {
        for (j, i) in indices.enumerated() {
            data.lowResolution(i, into: inputs + j * VAE.inputPixels)
            data.target(i, into: targets + j * VAE.outputPixels)
        }
    }
}

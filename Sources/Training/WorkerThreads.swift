import Dataset
import Dispatch
import Model
import Synchronization

/// The threads of this rank that share out a step's micro-batches (and the test images), each
/// with buffers of its own, and lend themselves to each other at a step's end.
final class WorkerThreads {
    let buffers: [StepBuffers]
    let help: ThreadHelp
    var count: Int { buffers.count }

    init(count: Int, model: VAE, microBatchSize: Int) {
        buffers = (0..<count).map { _ in StepBuffers(model: model, microBatch: microBatchSize) }
        help = ThreadHelp(threads: count)
    }

    /// The most of `items`, shared between `ranks` ranks, that one thread may compute: a part
    /// of an exact sum holds that many. The threads take items as they come free, so one may
    /// take all of its rank's.
    func mostPerThread(of items: Int, ranks: Int) -> Int {
        max(1, (items + ranks - 1) / ranks)
    }

    /// Runs `body` on every thread concurrently, with the thread's index and `items` to take
    /// from: each thread takes the next item as it comes free, so a thread that the machine's
    /// other work slows (on a shared machine, for a third of a step) takes fewer. Who computes
    /// what must not change the result: the callers sum exactly.
    func inParallel(dealing items: Range<Int>, _ body: (_ thread: Int, _ items: Dealer) -> Void) {
        guard !items.isEmpty else { return }
        let dealer = Dealer(items)
        withoutActuallyEscaping(body) { body in
            // Each thread's buffers are touched by that thread only, and the parameters and
            // the data are only read while the threads run: nothing is shared mutably.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: count) { body($0, dealer) }
        }
    }
}

/// The items of a range, handed out one at a time to whichever thread asks.
final class Dealer: Sendable {
    private let next: Atomic<Int>
    private let end: Int

    init(_ items: Range<Int>) {
        next = Atomic(items.lowerBound)
        end = items.upperBound
    }

    /// The next item nobody has taken, or nil when all are taken.
    func take() -> Int? {
        let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return item < end ? item : nil
    }

    /// Every item is taken: the one a thread holds is its last.
    var isEmpty: Bool { next.load(ordering: .relaxed) >= end }
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

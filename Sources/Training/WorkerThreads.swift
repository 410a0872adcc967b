import Dataset
import Distributed
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
        inParallel(dealer: RangeDealer(items), body)
    }

    /// The same with items from `dealer`.
    func inParallel(dealer: Dealer, _ body: (_ thread: Int, _ items: Dealer) -> Void) {
        withoutActuallyEscaping(body) { body in
            // Each thread's buffers are touched by that thread only, and the parameters and
            // the data are only read while the threads run: nothing is shared mutably.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: count) { body($0, dealer) }
        }
    }
}

/// Items handed out one at a time to whichever thread asks.
protocol Dealer: Sendable {
    /// The next item nobody has taken, or nil when all are taken.
    func take() -> Int?
    /// Every item is taken: the one a thread holds is its last.
    var isEmpty: Bool { get }
}

/// The items of a range, dealt to this rank's threads.
final class RangeDealer: Dealer {
    private let next: Atomic<Int>
    private let end: Int

    init(_ items: Range<Int>) {
        next = Atomic(items.lowerBound)
        end = items.upperBound
    }

    func take() -> Int? {
        let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return item < end ? item : nil
    }

    var isEmpty: Bool { next.load(ordering: .relaxed) >= end }
}

/// Items 0 ..< count dealt to the threads of every rank on this machine, from one of the
/// counters they share (which must start at 0): a rank that the machine's other work slows takes
/// fewer.
final class MachineDealer: Dealer {
    private let counters: SharedCounters
    private let counter: Int, count: Int

    init(_ count: Int, counter: Int, of counters: SharedCounters) {
        self.counters = counters
        self.counter = counter
        self.count = count
    }

    func take() -> Int? {
        let item = counters.add(1, to: counter)
        return item < count ? item : nil
    }

    var isEmpty: Bool { counters.load(counter) >= count }
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

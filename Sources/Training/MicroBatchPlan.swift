/// How a global batch is cut and shared: micro-batches of a fixed size at fixed places (the
/// last one may be short), dealt to ranks in contiguous runs as even as possible. The cut never
/// depends on the world size; only who computes which piece does.
public struct MicroBatchPlan: Sendable, Equatable {
    public let images: Int
    public let microBatchSize: Int

    public init(images: Int, microBatchSize: Int) {
        precondition(images > 0 && microBatchSize > 0)
        self.images = images
        self.microBatchSize = microBatchSize
    }

    public var count: Int { (images + microBatchSize - 1) / microBatchSize }

    /// Micro-batch indices computed by `rank` of `size` ranks (empty when there are more ranks
    /// than micro-batches).
    public func share(rank: Int, of size: Int) -> Range<Int> {
        precondition(size > 0 && rank >= 0 && rank < size)
        return (rank * count / size)..<((rank + 1) * count / size)
    }
}

/// One line of `metrics.jsonl`.
public struct EpochMetrics: Sendable, Codable, Equatable {
    public let epoch: Int            // 1-based
    public let step: Int
    public let loss: Double
    public let reconstructionLoss: Double
    public let klLoss: Double
    public var imagesPerSecond: Double
    public var seconds: Double
    /// Time each step waited for the collectives that combine gradients across ranks (the part
    /// of their time not hidden behind the backward pass).
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

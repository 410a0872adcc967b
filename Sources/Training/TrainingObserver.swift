import Foundation

/// What a trainer tells whoever watches it (the console, tests).
public protocol TrainingObserver: AnyObject {
    func stepFinished(_ progress: StepProgress)
    func epochFinished(_ metrics: EpochMetrics) throws
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

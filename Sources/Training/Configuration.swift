import Foundation

/// A training run's settings. Everything here that changes the numbers is recorded in each
/// checkpoint, so that a resume can check it is continuing the same run.
public struct TrainingConfiguration: Sendable, Equatable {
    public var epochs = 150
    /// Images per optimiser step, across all ranks.
    public var batchSize = 128
    /// Images per forward/backward call. Gradients of micro-batches are summed exactly, so the
    /// result does not depend on which rank computed which micro-batch; changing this size
    /// changes float rounding inside a micro-batch, so it is part of the run's identity.
    public var microBatchSize = 16
    public var latentDimension = 2
    /// Weight of the KL term in the loss: 1 is the seed's VAE; below 1 trades the latent's
    /// regularity for sharper reconstructions (a beta-VAE).
    public var klWeight: Float = 1
    public var adam = AdamHyperparameters()
    public var seed: UInt64 = 1
    /// Train on the first `limit` training images only.
    public var limit: Int?
    /// Also checkpoint every this many steps (besides every epoch's end).
    public var checkpointEvery: Int?
    /// Checkpoints kept in the run directory; older ones are deleted.
    public var keepCheckpoints = 3
    /// Threads computing micro-batches in this process. Results do not depend on it.
    public var threads = 1
    /// Test images scored at every epoch's end (the first ones of the split); 0 for none.
    public var testImages = 10_000

    public init() {}

    /// The configuration of a resumed run: the checkpoint's settings, then `overrides` (the
    /// flags the user gave).
    public init(resuming saved: CheckpointMetadata, overrides: (inout TrainingConfiguration) -> Void) {
        epochs = saved.epochsPlanned
        latentDimension = saved.latentDimension
        batchSize = saved.batchSize
        microBatchSize = saved.microBatchSize
        adam = saved.adam
        klWeight = saved.klWeight
        seed = saved.seed
        limit = saved.limit
        testImages = saved.testImages
        checkpointEvery = saved.checkpointEvery
        keepCheckpoints = saved.keepCheckpoints ?? keepCheckpoints
        overrides(&self)
    }

    /// Checks the values, with one message per problem in the words of the command line.
    public func validate() throws(ConfigurationError) {
        func require(_ ok: Bool, _ message: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(message) }
        }
        try require(epochs >= 1, "--epochs must be at least 1 (got \(epochs))")
        try require(batchSize >= 1 && batchSize <= 65_536, "--batch-size must be between 1 and 65536 (got \(batchSize))")
        try require(microBatchSize >= 1 && microBatchSize <= 1024,
                    "--micro-batch-size must be between 1 and 1024 (got \(microBatchSize))")
        // Each micro-batch's gradient (352 KB) is held until the step's exact sum can take it.
        try require((batchSize + microBatchSize - 1) / microBatchSize <= 256,
                    "--batch-size / --micro-batch-size must be at most 256 micro-batches per step")
        try require(latentDimension >= 1 && latentDimension <= 4096, "--latent-dim must be between 1 and 4096 (got \(latentDimension))")
        try require(adam.learningRate.isFinite && adam.learningRate > 0,
                    "--learning-rate must be a positive number (got \(adam.learningRate))")
        try require(klWeight.isFinite && klWeight >= 0 && klWeight <= 1000,
                    "--kl-weight must be between 0 and 1000 (got \(klWeight))")
        if let limit { try require(limit >= 1, "--limit must be at least 1 (got \(limit))") }
        if let every = checkpointEvery { try require(every >= 1, "--checkpoint-every must be at least 1 (got \(every))") }
        try require(threads >= 1 && threads <= 256, "--threads must be between 1 and 256 (got \(threads))")
        try require(testImages >= 0, "--test-images must be at least 0 (got \(testImages))")
        try require((testImages + microBatchSize - 1) / microBatchSize <= 2048,
                    "--test-images / --micro-batch-size must be at most 2048 chunks (test images are scored a micro-batch at a time)")
        try require(keepCheckpoints >= 1, "--keep-checkpoints must be at least 1 (got \(keepCheckpoints))")
    }
}

/// A setting that cannot be used; the message is one line for the user.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

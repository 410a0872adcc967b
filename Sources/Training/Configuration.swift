import Foundation
import Kernels
import Model

/// A training run's settings: each a property here with its default, declared once in
/// `settings` below. Everything that changes the numbers is recorded in each checkpoint, so that
/// a resume can check it is continuing the same run.
public struct TrainingConfiguration: Sendable, Equatable {
    public var epochs = 150
    public var batchSize = 128
    public var microBatchSize = 16
    public var shape = ModelShape.seed
    public var klWeight: Float = 1
    public var precision = Precision.fp32
    public var adam = AdamHyperparameters()
    public var cosineDecayEpochs: Int?
    public var seed: UInt64 = 1
    public var limit: Int?
    public var checkpointEvery: Int?
    public var keepCheckpoints = 3
    public var threads = 1
    public var testImages = 10_000

    public init() {}

    static let defaults = TrainingConfiguration()

    /// Every setting, in the order messages, the report and `vae inspect` list them.
    public static let settings: [RunSetting] = [
        .declare(\.epochs, "epochs", flag: "epochs", key: "epochs_planned", role: .plan, shown: false, must: .atLeast(1),
                 help: "Total epochs of the run; a resumed run continues until this many are done."),
        .declare(\.shape.latentDimension, "latent dimension", flag: "latent-dim", key: "latent_dim", role: .shape, shown: true,
                 must: .between(1, 4096), help: "Size of the latent space."),
        // Wider than the seed's 16 lets more of each 8x8 input reach the latent: the sharper upscaler's knob.
        .declare(\.shape.encoderWidth, "encoder width", flag: "encoder-width", key: "encoder_width", role: .shape, shown: true,
                 must: .between(1, 4096),
                 help: "Width of the encoder's dense layer, through which all of an input passes; wider gives sharper upscaling.",
                 defaultHelp: "16, the seed's VAE", addedLater: true),
        .declare(\.batchSize, "batch size", flag: "batch-size", key: "batch_size", role: .identity, shown: true,
                 must: .between(1, 65_536),
                 help: "Images per optimiser step, over all ranks. Up to 64 micro-batches a step, gradients travel between ranks as 4 bytes a value, 8 beyond."),
        // Gradients of micro-batches are summed exactly, so the result does not depend on which
        // rank computed which; the size changes float rounding inside a micro-batch.
        .declare(\.microBatchSize, "micro-batch size", flag: "micro-batch-size", key: "micro_batch_size", role: .identity,
                 shown: true, must: .between(1, 1024),
                 help: "Images per forward/backward call; gradients of micro-batches are summed exactly."),
        .declare(\.adam.learningRate, "learning rate", flag: "learning-rate", key: "learning_rate", role: .identity, shown: true,
                 must: .positive, help: "Adam's learning rate."),
        .declare(\.cosineDecayEpochs, "cosine decay epochs", flag: "cosine-decay-epochs", key: "cosine_decay_epochs",
                 role: .identity, shown: true, must: .atLeast(1),
                 help: "Lower the learning rate along half a cosine to 0 over this many epochs (Keras's CosineDecay); at least --epochs.",
                 defaultHelp: "none: a constant rate, the seed's", addedLater: true),
        // 1 is the seed's VAE; below 1 trades the latent's regularity for sharper reconstructions (a beta-VAE).
        .declare(\.klWeight, "KL weight", flag: "kl-weight", key: "kl_weight", role: .identity, shown: true,
                 must: .between(0, 1000),
                 help: "Weight of the KL term in the loss; below 1 gives sharper upscaling and a less regular latent space.",
                 defaultHelp: "1, the seed's VAE", addedLater: true),
        // bf16 rounds the decoder's upsampling convolutions' inputs; on a CPU without AVX512_BF16
        // two fused multiply-adds emulate each vdpbf16ps step, to the same bits.
        .declare(\.precision, "precision", flag: "precision", key: "precision", role: .identity, shown: true, must: .any,
                 help: "What the decoder's transposed convolutions, most of a step's work, multiply in while training: fp32 (the seed's) or bf16 (bfloat16 inputs, float32 sums; weights, Adam and losses stay float32).",
                 addedLater: true),
        .declare(\.seed, "seed", flag: "seed", key: "seed", role: .identity, shown: true, must: .any,
                 help: "Seed of everything random: initial weights, shuffles, sampling noise."),
        .declare(\.limit, "limit", flag: "limit", key: "limit", role: .identity, shown: true, must: .atLeast(1),
                 help: "Train on the first N training images only.", defaultHelp: ""),
        .declare(\.testImages, "test images", flag: "test-images", key: "test_images", role: .plan, shown: true,
                 must: .atLeast(0), help: "Score the first N test images at every epoch's end (0: none)."),
        .declare(\.checkpointEvery, "checkpoint every", flag: "checkpoint-every", key: "checkpoint_every", role: .plan,
                 shown: false, must: .atLeast(1), help: "Also checkpoint every N steps.", defaultHelp: "only at epoch ends",
                 addedLater: true),
        .declare(\.keepCheckpoints, "checkpoints kept", flag: "keep-checkpoints", key: "keep_checkpoints", role: .plan,
                 shown: false, must: .atLeast(1), help: "How many checkpoints to keep.", addedLater: true),
        .declare(\.threads, "threads", flag: "threads", key: nil, role: .local, shown: false, must: .between(1, 256),
                 help: "Threads computing micro-batches in each process; results do not depend on it.",
                 defaultHelp: "all cores for a single process, 1 per MPI rank"),
    ]

    /// The setting of `flag` (a programming error if there is none).
    public static func setting(_ flag: String) -> RunSetting {
        guard let setting = settings.first(where: { $0.flag == flag }) else { preconditionFailure("no setting --\(flag)") }
        return setting
    }

    /// The settings shown as the run's, as (name, value) rows.
    public var shownSettings: [(String, String)] {
        Self.settings.filter(\.shown).map { ($0.name, $0.text(self)) }
    }

    /// The configuration of a resumed run: the checkpoint's settings, then `overrides` (the
    /// flags the user gave).
    public init(resuming saved: CheckpointMetadata, overrides: (inout TrainingConfiguration) -> Void) {
        self = saved.settings
        overrides(&self)
    }

    /// Checks the values, with one message per problem in the words of the command line. A
    /// `Trainer` takes only a configuration this accepts.
    public func validate() throws(ConfigurationError) {
        if let problem = Self.settings.lazy.compactMap({ $0.problem(self) }).first { throw ConfigurationError(problem) }
        if let cosineDecayEpochs, cosineDecayEpochs < epochs {
            throw ConfigurationError("--cosine-decay-epochs must be at least --epochs (\(epochs)): after \(cosineDecayEpochs) the learning rate is 0 (got \(cosineDecayEpochs))")
        }
        // Each micro-batch's gradient (352 KB) is held until the step's exact sum can take it.
        if (batchSize + microBatchSize - 1) / microBatchSize > 256 {
            throw ConfigurationError("--batch-size / --micro-batch-size must be at most 256 micro-batches per step")
        }
        if (testImages + microBatchSize - 1) / microBatchSize > 2048 {
            throw ConfigurationError("--test-images / --micro-batch-size must be at most 2048 chunks (test images are scored a micro-batch at a time)")
        }
    }
}

/// A setting that cannot be used; the message is one line for the user.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

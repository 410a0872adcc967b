import Checkpoint
import Foundation

/// Everything a training checkpoint records besides its tensors: its position, the run's
/// settings and the epoch's running totals. The one place they are read and written, as the
/// safetensors header's string pairs (its format allows strings only), each number written so
/// that it reads back exactly.
public struct CheckpointMetadata: Codable, Sendable, Equatable {
    public static let format = "vae-training-checkpoint"
    public static let formatVersion = "1"

    public var step: Int
    /// Epochs completed, and steps done in the epoch in progress.
    public var epoch: Int, stepInEpoch: Int
    public var epochsPlanned: Int
    /// Test images scored at every epoch's end.
    public var testImages: Int
    /// How the run saved checkpoints (nil: at epochs' ends only).
    public var checkpointEvery: Int?
    /// Nil in checkpoints older than this key.
    public var keepCheckpoints: Int?
    public var latentDimension: Int
    public var batchSize: Int
    public var microBatchSize: Int
    public var klWeight: Float
    public var adam: AdamHyperparameters
    public var seed: UInt64
    public var limit: Int?
    /// `ImageSet.fingerprint` of the training data.
    public var dataset: String
    /// Ranks of the run that wrote it (results do not depend on it).
    public var worldSize: Int
    public var epochTotals: EpochTotals

    /// The metadata of `state`, saved by a run of `configuration` on `dataset`.
    public init(_ state: TrainingState, configuration c: TrainingConfiguration, dataset: String, worldSize: Int) {
        step = state.step
        epoch = state.epoch
        stepInEpoch = state.stepInEpoch
        epochsPlanned = c.epochs
        testImages = c.testImages
        checkpointEvery = c.checkpointEvery
        keepCheckpoints = c.keepCheckpoints
        latentDimension = c.latentDimension
        batchSize = c.batchSize
        microBatchSize = c.microBatchSize
        klWeight = c.klWeight
        adam = state.adam.hyperparameters
        seed = c.seed
        limit = c.limit
        self.dataset = dataset
        self.worldSize = worldSize
        epochTotals = state.epochTotals
    }

    /// The settings that change a run's numbers, for comparing with a resume's.
    public var identity: RunIdentity {
        RunIdentity(latentDimension: latentDimension, batchSize: batchSize, microBatchSize: microBatchSize,
                    learningRate: adam.learningRate, klWeight: klWeight, seed: seed, limit: limit, dataset: dataset)
    }

    /// A checkpoint's header metadata, read back; the message of the error thrown says what
    /// is missing or wrong.
    public init(_ strings: [String: String]) throws(Problem) {
        do {
            self = try JSONDecoder().decode(Self.self, from: JSONEncoder().encode(strings))
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem("metadata cannot be read: \(error)")
        }
    }

    /// As the header's string pairs.
    public var strings: [String: String] {
        // Encoding strings into JSON and decoding them as strings again cannot fail.
        try! JSONDecoder().decode([String: String].self, from: JSONEncoder().encode(self))
    }

    /// What is wrong with a checkpoint's metadata, in one line.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version"
        case step, epoch, stepInEpoch = "step_in_epoch", epochsPlanned = "epochs_planned", testImages = "test_images"
        case checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints"
        case latentDimension = "latent_dim", batchSize = "batch_size", microBatchSize = "micro_batch_size"
        case learningRate = "learning_rate", klWeight = "kl_weight", beta1 = "beta_1", beta2 = "beta_2", epsilon
        case seed, limit, dataset = "dataset_sha256", worldSize = "world_size"
        case epochReconstructionSum = "epoch_reconstruction_sum", epochKLSum = "epoch_kl_sum", epochSteps = "epoch_steps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func text(_ key: CodingKeys) throws -> String? { try c.decodeIfPresent(String.self, forKey: key) }
        func required(_ key: CodingKeys) throws -> String {
            guard let value = try text(key) else { throw Problem("metadata has no \(key.stringValue)") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ text: String, _ key: CodingKeys) throws -> T {
            guard let value = T(text) else { throw Problem("metadata \(key.stringValue) is '\(text)', not a number") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: CodingKeys) throws -> T { try number(try required(key), key) }
        /// "none", or absent where `absentIsNone`, is nil.
        func optional<T: LosslessStringConvertible>(_ key: CodingKeys, absentIsNone: Bool) throws -> T? {
            let value = absentIsNone ? try text(key) ?? "none" : try required(key)
            return value == "none" ? nil : try number(value, key)
        }

        guard let version = try text(.formatVersion) else {
            throw Problem("not a training checkpoint (no format_version in its metadata): it holds weights only and cannot be resumed")
        }
        guard version == Self.formatVersion else {
            throw Problem("checkpoint format version \(version) is not supported (this build reads \(Self.formatVersion))")
        }
        step = try number(.step)
        epoch = try number(.epoch)
        stepInEpoch = try number(.stepInEpoch)
        guard step >= 0, epoch >= 0, stepInEpoch >= 0 else { throw Problem("metadata has a negative position") }
        epochsPlanned = try number(.epochsPlanned)
        guard epochsPlanned >= 1 else { throw Problem("metadata epochs_planned \(epochsPlanned) is not positive") }
        testImages = try number(.testImages)
        checkpointEvery = try optional(.checkpointEvery, absentIsNone: true)
        keepCheckpoints = try optional(.keepCheckpoints, absentIsNone: true)
        latentDimension = try number(.latentDimension)
        guard latentDimension >= 1 && latentDimension <= 4096 else {
            throw Problem("metadata latent_dim \(latentDimension) is out of range")
        }
        batchSize = try number(.batchSize)
        microBatchSize = try number(.microBatchSize)
        // Checkpoints from before the KL weight existed trained with the seed's loss.
        klWeight = try text(.klWeight) == nil ? 1 : try number(.klWeight)
        adam = AdamHyperparameters(learningRate: try number(.learningRate))
        adam.beta1 = try number(.beta1)
        adam.beta2 = try number(.beta2)
        adam.epsilon = try number(.epsilon)
        seed = try number(.seed)
        limit = try optional(.limit, absentIsNone: false)
        dataset = try required(.dataset)
        worldSize = try number(.worldSize)
        epochTotals = EpochTotals(reconstruction: try number(.epochReconstructionSum), kl: try number(.epochKLSum),
                                  steps: try number(.epochSteps))
    }

    public func encode(to encoder: Encoder) throws {
        func text(_ value: (some LosslessStringConvertible)?) -> String { value?.description ?? "none" }
        let fields: KeyValuePairs<CodingKeys, String> = [
            .format: Self.format, .formatVersion: Self.formatVersion,
            .step: text(step), .epoch: text(epoch), .stepInEpoch: text(stepInEpoch), .epochsPlanned: text(epochsPlanned),
            .testImages: text(testImages), .checkpointEvery: text(checkpointEvery), .keepCheckpoints: text(keepCheckpoints),
            .latentDimension: text(latentDimension), .batchSize: text(batchSize), .microBatchSize: text(microBatchSize),
            .learningRate: text(adam.learningRate), .klWeight: text(klWeight),
            .beta1: text(adam.beta1), .beta2: text(adam.beta2), .epsilon: text(adam.epsilon),
            .seed: text(seed), .limit: text(limit), .dataset: dataset, .worldSize: text(worldSize),
            .epochReconstructionSum: text(epochTotals.reconstruction), .epochKLSum: text(epochTotals.kl),
            .epochSteps: text(epochTotals.steps),
        ]
        var container = encoder.container(keyedBy: CodingKeys.self)
        for (key, value) in fields { try container.encode(value, forKey: key) }
    }
}

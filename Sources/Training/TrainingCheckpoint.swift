import Checkpoint
import Foundation
import Model

/// What identifies a run: the settings that change its numbers. A resume must match them
/// (unless the user allows a change), and every checkpoint records them.
public struct RunIdentity: Sendable, Equatable {
    public var latentDimension: Int
    public var batchSize: Int
    public var microBatchSize: Int
    public var learningRate: Float
    public var klWeight: Float
    public var seed: UInt64
    public var limit: Int?
    /// `ImageSet.fingerprint` of the training data.
    public var dataset: String

    public init(latentDimension: Int, batchSize: Int, microBatchSize: Int, learningRate: Float, klWeight: Float,
                seed: UInt64, limit: Int?, dataset: String) {
        self.latentDimension = latentDimension
        self.batchSize = batchSize
        self.microBatchSize = microBatchSize
        self.learningRate = learningRate
        self.klWeight = klWeight
        self.seed = seed
        self.limit = limit
        self.dataset = dataset
    }

    public init(_ configuration: TrainingConfiguration, dataset: String) {
        latentDimension = configuration.latentDimension
        batchSize = configuration.batchSize
        microBatchSize = configuration.microBatchSize
        learningRate = configuration.adam.learningRate
        klWeight = configuration.klWeight
        seed = configuration.seed
        limit = configuration.limit
        self.dataset = dataset
    }

    /// The differences from `other`, each as "what: mine vs other's", for a refusal message.
    public func differences(from requested: RunIdentity) -> [String] {
        var out: [String] = []
        func compare<T: Equatable>(_ what: String, _ a: T, _ b: T, _ show: (T) -> String) {
            if a != b { out.append("\(what) \(show(a)) (this run asks for \(show(b)))") }
        }
        compare("latent dimension", latentDimension, requested.latentDimension) { "\($0)" }
        compare("batch size", batchSize, requested.batchSize) { "\($0)" }
        compare("micro-batch size", microBatchSize, requested.microBatchSize) { "\($0)" }
        compare("learning rate", learningRate, requested.learningRate) { "\($0)" }
        compare("KL weight", klWeight, requested.klWeight) { "\($0)" }
        compare("seed", seed, requested.seed) { "\($0)" }
        compare("limit", limit, requested.limit) { $0.map { "\($0)" } ?? "none" }
        compare("training data", dataset, requested.dataset) { "sha256 \($0.prefix(12))…" }
        return out
    }
}

/// The checkpoint format (SPEC 5): model tensors under Keras names and layouts, Adam's moments
/// as `optimizer.m.<name>` / `optimizer.v.<name>`, and the position, settings and epoch totals
/// as string metadata. Numbers are written so that they read back exactly.
public enum TrainingCheckpoint {
    public static let formatVersion = "1"

    /// Refuses to write a state holding a value that is not finite: a checkpoint is always one
    /// training can continue from.
    /// Saves `state` with the settings of `configuration` (the data's fingerprint is `dataset`).
    public static func save(_ state: TrainingState, configuration c: TrainingConfiguration, dataset: String,
                            worldSize: Int, to store: CheckpointStore, beforeRename: () -> Void = {}) throws -> URL {
        let identity = RunIdentity(c, dataset: dataset)
        for (what, values) in [("parameters", state.parameters), ("Adam's first moments", state.adam.m),
                               ("Adam's second moments", state.adam.v)] where !values.allSatisfy(\.isFinite) {
            throw TrainingError("not saving step \(state.step): its \(what) hold a value that is not finite")
        }
        let layout = ParameterLayout(latentDimension: identity.latentDimension)
        let h = state.adam.hyperparameters
        let metadata: [String: String] = [
            "format": "vae-training-checkpoint",
            "format_version": formatVersion,
            "step": "\(state.step)",
            "epoch": "\(state.epoch)",
            "step_in_epoch": "\(state.stepInEpoch)",
            "epochs_planned": "\(c.epochs)",
            "test_images": "\(c.testImages)",
            "checkpoint_every": c.checkpointEvery.map { "\($0)" } ?? "none",
            "keep_checkpoints": "\(c.keepCheckpoints)",
            "latent_dim": "\(identity.latentDimension)",
            "batch_size": "\(identity.batchSize)",
            "micro_batch_size": "\(identity.microBatchSize)",
            "learning_rate": "\(h.learningRate)",
            "kl_weight": "\(identity.klWeight)",
            "beta_1": "\(h.beta1)",
            "beta_2": "\(h.beta2)",
            "epsilon": "\(h.epsilon)",
            "seed": "\(identity.seed)",
            "limit": identity.limit.map { "\($0)" } ?? "none",
            "dataset_sha256": identity.dataset,
            "world_size": "\(worldSize)",
            "epoch_reconstruction_sum": "\(state.epochTotals.reconstruction)",
            "epoch_kl_sum": "\(state.epochTotals.kl)",
            "epoch_steps": "\(state.epochTotals.steps)",
        ]
        return try state.parameters.withUnsafeBufferPointer { p in
            try state.adam.m.withUnsafeBufferPointer { m in
                try state.adam.v.withUnsafeBufferPointer { v in
                    var tensors: [TensorView] = []
                    for (prefix, buffer) in [("", p), ("optimizer.m.", m), ("optimizer.v.", v)] {
                        for spec in layout.specs {
                            tensors.append((prefix + spec.name, spec.shape, UnsafeBufferPointer(rebasing: buffer[spec.range])))
                        }
                    }
                    return try store.save(step: state.step, tensors: tensors, metadata: metadata, keepLast: c.keepCheckpoints,
                                          beforeRename: beforeRename)
                }
            }
        }
    }

    /// A training checkpoint read back: the state and the settings a resume continues with
    /// unless told otherwise.
    public struct Contents: Sendable {
        public let state: TrainingState
        public let identity: RunIdentity
        /// The run's per-epoch test scoring.
        public let testImages: Int
        public let epochsPlanned: Int
        /// How the run saved checkpoints (nil in checkpoints older than these keys).
        public let checkpointEvery: Int?, keepCheckpoints: Int?
    }

    /// Reads a training checkpoint back; refuses files that are not whole training checkpoints.
    public static func load(_ file: SafeTensorsFile) throws -> Contents {
        let meta = file.metadata
        func fail(_ reason: String) -> CheckpointError { CheckpointError(file.url, reason) }
        guard meta["format_version"] != nil else {
            throw fail("not a training checkpoint (no format_version in its metadata): it holds weights only and cannot be resumed")
        }
        guard meta["format_version"] == formatVersion else {
            throw fail("checkpoint format version \(meta["format_version"]!) is not supported (this build reads \(formatVersion))")
        }
        func string(_ key: String) throws -> String {
            guard let value = meta[key] else { throw fail("metadata has no \(key)") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> T {
            let text = try string(key)
            guard let value = T(text) else { throw fail("metadata \(key) is '\(text)', not a number") }
            return value
        }
        let limitText = try string("limit")
        let identity = RunIdentity(
            latentDimension: try number("latent_dim"), batchSize: try number("batch_size"),
            microBatchSize: try number("micro_batch_size"), learningRate: try number("learning_rate"),
            // Checkpoints from before the KL weight existed trained with the seed's loss.
            klWeight: meta["kl_weight"] == nil ? 1 : try number("kl_weight"),
            seed: try number("seed"),
            limit: limitText == "none" ? nil : try number("limit", Int.self),
            dataset: try string("dataset_sha256"))
        guard identity.latentDimension >= 1 && identity.latentDimension <= 4096 else {
            throw fail("metadata latent_dim \(identity.latentDimension) is out of range")
        }
        var hyperparameters = AdamHyperparameters(learningRate: identity.learningRate)
        hyperparameters.beta1 = try number("beta_1")
        hyperparameters.beta2 = try number("beta_2")
        hyperparameters.epsilon = try number("epsilon")

        let layout = ParameterLayout(latentDimension: identity.latentDimension)
        func read(_ prefix: String) throws -> [Float] {
            var flat = [Float](repeating: 0, count: layout.count)
            try flat.withUnsafeMutableBufferPointer { flat in
                for spec in layout.specs {
                    try file.copy(prefix + spec.name, expectedShape: spec.shape, into: UnsafeMutableBufferPointer(rebasing: flat[spec.range]))
                }
            }
            return flat
        }
        var adam = Adam(count: layout.count, hyperparameters: hyperparameters)
        adam.m = try read("optimizer.m.")
        adam.v = try read("optimizer.v.")
        adam.step = try number("step")
        let state = TrainingState(
            parameters: try read(""), adam: adam, epoch: try number("epoch"), stepInEpoch: try number("step_in_epoch"),
            epochTotals: EpochTotals(reconstruction: try number("epoch_reconstruction_sum"),
                                     kl: try number("epoch_kl_sum"), steps: try number("epoch_steps")))
        guard state.step >= 0, state.epoch >= 0, state.stepInEpoch >= 0 else { throw fail("metadata has a negative position") }
        let epochsPlanned: Int = try number("epochs_planned")
        guard epochsPlanned >= 1 else { throw fail("metadata epochs_planned \(epochsPlanned) is not positive") }
        let every = meta["checkpoint_every"]
        return Contents(state: state, identity: identity, testImages: try number("test_images"), epochsPlanned: epochsPlanned,
                        checkpointEvery: every == nil || every == "none" ? nil : try number("checkpoint_every", Int.self),
                        keepCheckpoints: meta["keep_checkpoints"] == nil ? nil : try number("keep_checkpoints", Int.self))
    }
}

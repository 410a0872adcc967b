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

    public init(_ c: TrainingConfiguration, dataset: String) {
        self.init(latentDimension: c.latentDimension, batchSize: c.batchSize, microBatchSize: c.microBatchSize,
                  learningRate: c.adam.learningRate, klWeight: c.klWeight, seed: c.seed, limit: c.limit, dataset: dataset)
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

/// The checkpoint format: model tensors under Keras names and layouts, Adam's moments as
/// `optimizer.m.<name>` / `optimizer.v.<name>`, and `CheckpointMetadata` as the header's
/// string metadata.
public enum TrainingCheckpoint {
    /// Saves `state` with the settings of `configuration` (the data's fingerprint is `dataset`).
    /// Refuses to write a state holding a value that is not finite: a checkpoint is always one
    /// training can continue from.
    public static func save(_ state: TrainingState, configuration c: TrainingConfiguration, dataset: String,
                            worldSize: Int, to store: CheckpointStore, beforeRename: () -> Void = {}) throws -> URL {
        for (what, values) in [("parameters", state.parameters), ("Adam's first moments", state.adam.m),
                               ("Adam's second moments", state.adam.v)] where !values.allSatisfy(\.isFinite) {
            throw TrainingError("not saving step \(state.step): its \(what) hold a value that is not finite")
        }
        let metadata = CheckpointMetadata(state, configuration: c, dataset: dataset, worldSize: worldSize)
        let layout = ParameterLayout(latentDimension: metadata.latentDimension)
        return try state.parameters.withUnsafeBufferPointer { p in
            try state.adam.m.withUnsafeBufferPointer { m in
                try state.adam.v.withUnsafeBufferPointer { v in
                    var tensors: [TensorView] = []
                    for (prefix, buffer) in [("", p), ("optimizer.m.", m), ("optimizer.v.", v)] {
                        for spec in layout.specs {
                            tensors.append((prefix + spec.name, spec.shape, UnsafeBufferPointer(rebasing: buffer[spec.range])))
                        }
                    }
                    return try store.save(step: state.step, tensors: tensors, metadata: metadata.strings,
                                          keepLast: c.keepCheckpoints, beforeRename: beforeRename)
                }
            }
        }
    }

    /// A training checkpoint read back: the state, and the settings a resume continues with
    /// unless told otherwise.
    public struct Contents: Sendable {
        public let state: TrainingState
        public let metadata: CheckpointMetadata
    }

    /// Reads a training checkpoint back; refuses files that are not whole training checkpoints.
    public static func load(_ file: SafeTensorsFile) throws -> Contents {
        let metadata: CheckpointMetadata
        do {
            metadata = try CheckpointMetadata(file.metadata)
        } catch {
            throw CheckpointError(file.url, error.description)
        }
        let layout = ParameterLayout(latentDimension: metadata.latentDimension)
        func read(_ prefix: String) throws -> [Float] {
            var flat = [Float](repeating: 0, count: layout.count)
            try flat.withUnsafeMutableBufferPointer { flat in
                for spec in layout.specs {
                    try file.copy(prefix + spec.name, expectedShape: spec.shape, into: UnsafeMutableBufferPointer(rebasing: flat[spec.range]))
                }
            }
            return flat
        }
        var adam = Adam(count: layout.count, hyperparameters: metadata.adam)
        adam.m = try read("optimizer.m.")
        adam.v = try read("optimizer.v.")
        adam.step = metadata.step
        let state = TrainingState(parameters: try read(""), adam: adam, epoch: metadata.epoch,
                                  stepInEpoch: metadata.stepInEpoch, epochTotals: metadata.epochTotals)
        return Contents(state: state, metadata: metadata)
    }
}

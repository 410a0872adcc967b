import Checkpoint
import Foundation
import Model

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
        let layout = ParameterLayout(shape: metadata.settings.shape)
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
        let layout = ParameterLayout(shape: metadata.settings.shape)
        func read(_ prefix: String) throws -> [Float] {
            var flat = [Float](repeating: 0, count: layout.count)
            try flat.withUnsafeMutableBufferPointer { flat in
                for spec in layout.specs {
                    try file.copy(prefix + spec.name, expectedShape: spec.shape, into: UnsafeMutableBufferPointer(rebasing: flat[spec.range]))
                }
            }
            return flat
        }
        let adam = Adam(hyperparameters: metadata.settings.adam, m: try read("optimizer.m."), v: try read("optimizer.v."),
                        step: metadata.step)
        let state = TrainingState(parameters: try read(""), adam: adam, epoch: metadata.epoch,
                                  stepInEpoch: metadata.stepInEpoch, epochTotals: metadata.epochTotals)
        return Contents(state: state, metadata: metadata)
    }
}

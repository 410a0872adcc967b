/// Everything a training checkpoint records besides its tensors: its position, the run's
/// settings and the epoch's running totals. The one place they are read and written, as the
/// safetensors header's string pairs (its format allows strings only), each number written so
/// that it reads back exactly. The settings' keys come from `TrainingConfiguration.settings`.
public struct CheckpointMetadata: Sendable, Equatable {
    public static let format = "vae-training-checkpoint"
    public static let formatVersion = "1"

    public var step: Int
    /// Epochs completed, and steps done in the epoch in progress.
    public var epoch: Int, stepInEpoch: Int
    /// The run's saved settings (a `.local` one at its default).
    public var settings: TrainingConfiguration
    /// `ImageSet.fingerprint` of the training data.
    public var dataset: String
    /// Ranks of the run that wrote it (results do not depend on it).
    public var worldSize: Int
    public var epochTotals: EpochTotals

    /// The metadata of `state`, saved by a run of `configuration` on `dataset`.
    public init(_ state: TrainingState, configuration: TrainingConfiguration, dataset: String, worldSize: Int) {
        step = state.step
        epoch = state.epoch
        stepInEpoch = state.stepInEpoch
        // What the checkpoint keeps, as it reads back.
        settings = TrainingConfiguration()
        for setting in TrainingConfiguration.settings where setting.key != nil {
            _ = setting.read(setting.text(configuration), &settings)
        }
        settings.adam = state.adam.hyperparameters
        self.dataset = dataset
        self.worldSize = worldSize
        epochTotals = state.epochTotals
    }

    /// The settings that change a run's numbers, for comparing with a resume's.
    public var identity: RunIdentity { RunIdentity(settings, dataset: dataset) }

    /// The keys besides the settings'.
    private enum Key {
        static let format = "format", formatVersion = "format_version", step = "step", epoch = "epoch"
        static let stepInEpoch = "step_in_epoch", beta1 = "beta_1", beta2 = "beta_2", epsilon = "epsilon"
        static let dataset = "dataset_sha256", worldSize = "world_size"
        static let reconstructionSum = "epoch_reconstruction_sum", klSum = "epoch_kl_sum", epochSteps = "epoch_steps"
    }

    /// A checkpoint's header metadata, read back; the message of the error thrown says what
    /// is missing or wrong.
    public init(_ strings: [String: String]) throws(Problem) {
        func required(_ key: String) throws(Problem) -> String {
            guard let value = strings[key] else { throw Problem("metadata has no \(key)") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: String) throws(Problem) -> T {
            let text = try required(key)
            guard let value = T(text) else { throw Problem("metadata \(key) is '\(text)', not a number") }
            return value
        }

        guard let version = strings[Key.formatVersion] else {
            throw Problem("not a training checkpoint (no format_version in its metadata): it holds weights only and cannot be resumed")
        }
        guard version == Self.formatVersion else {
            throw Problem("checkpoint format version \(version) is not supported (this build reads \(Self.formatVersion))")
        }
        step = try number(Key.step)
        epoch = try number(Key.epoch)
        stepInEpoch = try number(Key.stepInEpoch)
        guard step >= 0, epoch >= 0, stepInEpoch >= 0 else { throw Problem("metadata has a negative position") }
        settings = TrainingConfiguration()
        for setting in TrainingConfiguration.settings {
            guard let key = setting.key else { continue }
            // A key younger than the checkpoint: the run had the default.
            if strings[key] == nil && setting.addedLater { continue }
            let text = try required(key)
            guard setting.read(text, &settings) else { throw Problem("metadata \(key) is '\(text)', not \(setting.kind)") }
            guard setting.holds(settings) else { throw Problem("metadata \(key) \(text) is out of range") }
        }
        settings.adam.beta1 = try number(Key.beta1)
        settings.adam.beta2 = try number(Key.beta2)
        settings.adam.epsilon = try number(Key.epsilon)
        dataset = try required(Key.dataset)
        worldSize = try number(Key.worldSize)
        epochTotals = EpochTotals(reconstruction: try number(Key.reconstructionSum), kl: try number(Key.klSum),
                                  steps: try number(Key.epochSteps))
    }

    /// As the header's string pairs.
    public var strings: [String: String] {
        var out = [
            Key.format: Self.format, Key.formatVersion: Self.formatVersion,
            Key.step: "\(step)", Key.epoch: "\(epoch)", Key.stepInEpoch: "\(stepInEpoch)",
            Key.beta1: "\(settings.adam.beta1)", Key.beta2: "\(settings.adam.beta2)", Key.epsilon: "\(settings.adam.epsilon)",
            Key.dataset: dataset, Key.worldSize: "\(worldSize)",
            Key.reconstructionSum: "\(epochTotals.reconstruction)", Key.klSum: "\(epochTotals.kl)",
            Key.epochSteps: "\(epochTotals.steps)",
        ]
        for setting in TrainingConfiguration.settings {
            if let key = setting.key { out[key] = setting.text(settings) }
        }
        return out
    }

    /// What is wrong with a checkpoint's metadata, in one line.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// What identifies a run: the values of the settings that change its numbers, and its data. A
/// resume must match them (unless the user allows a change), and every checkpoint records them.
public struct RunIdentity: Sendable, Equatable, CustomStringConvertible {
    /// One setting's value, as text (which reads back exactly, so equal texts are equal values).
    public struct Value: Sendable, Equatable {
        public let name: String
        public let role: RunSetting.Role
        public let text: String
    }
    public let values: [Value]

    public init(_ c: TrainingConfiguration, dataset: String) {
        values = TrainingConfiguration.settings.filter { $0.role == .shape || $0.role == .identity }
            .map { Value(name: $0.name, role: $0.role, text: $0.text(c)) }
            + [Value(name: "training data", role: .identity, text: "sha256 \(dataset)")]
    }

    public var description: String { values.map { "\($0.name) \($0.text)" }.joined(separator: ", ") }

    /// A value of this identity that another run asks to change.
    public struct Difference: Sendable, Equatable, CustomStringConvertible {
        public let saved: Value, requested: Value
        public var description: String { "\(saved.name) \(Self.short(saved.text)) (this run asks for \(Self.short(requested.text)))" }
        /// A checksum is named by its start.
        private static func short(_ text: String) -> String { text.hasPrefix("sha256 ") ? text.prefix(19) + "…" : text }
    }

    /// Where `requested` differs from this identity, in the settings' order.
    public func differences(from requested: RunIdentity) -> [Difference] {
        zip(values, requested.values).filter { $0.text != $1.text }.map { Difference(saved: $0, requested: $1) }
    }
}

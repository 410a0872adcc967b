import ArgumentParser
import Checkpoint
import Dataset
import Foundation
import Model
import Training

/// What a run starts from: the data, the settled configuration and the starting state (a new
/// run's, or a checkpoint's).
struct PreparedRun {
    let train: ImageSet, test: ImageSet
    let dataDirectory: URL
    let configuration: TrainingConfiguration
    let state: TrainingState
    /// Whether the state is a checkpoint's.
    let resumed: Bool
}

extension Train {
    /// Loads the data and the starting state, and settles the configuration: the flags given
    /// over the defaults for a new run, or over the checkpoint's settings on a resume (with
    /// `--resume`, or `--resume-if-saved` when the run directory holds a valid checkpoint).
    func prepare(runDirectory: URL, isRoot: Bool, defaultThreads: Int, console: Console) throws -> PreparedRun {
        let dataDirectory = try dataOption.directory
        let train = try ImageSet.load(.train, from: dataDirectory)
        let test = try ImageSet.load(.test, from: dataDirectory)
        let store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))

        let checkpoint = resume || resumeIfSaved ? try store.newestValid(warn: { console.note("skipping \($0)") }) : nil
        if resume && checkpoint == nil {
            throw ValidationError("--resume: no checkpoint to resume from in \(store.directory.path)")
        }
        var configuration = TrainingConfiguration()
        let state: TrainingState
        if let file = checkpoint {
            let contents = try TrainingCheckpoint.load(file)
            let (saved, identity) = (contents.state, contents.metadata.identity)
            // Settings not given on the command line continue as the checkpoint has them.
            configuration = TrainingConfiguration(resuming: contents.metadata) { apply(to: &$0, defaultThreads: defaultThreads) }
            try configuration.validate()
            let differences = identity.differences(from: RunIdentity(configuration, dataset: train.fingerprint))
            if let shape = differences.first(where: { $0.saved.role == .shape }) {
                throw ValidationError("cannot resume \(file.url.path): it has \(shape.saved.name) \(shape.saved.text), not \(shape.requested.text)")
            }
            if !differences.isEmpty && !allowConfigChange {
                throw ValidationError("cannot resume \(file.url.path): it was trained with \(differences.map(\.description).joined(separator: ", ")); pass --allow-config-change to continue anyway")
            }
            var resumed = saved
            resumed.adam = Adam(resuming: saved.adam, learningRate: configuration.adam.learningRate)
            state = resumed
            console.note("resuming from \(file.url.path) (epoch \(saved.epoch), step \(saved.step))")
        } else {
            apply(to: &configuration, defaultThreads: defaultThreads)
            try configuration.validate()
            if isRoot { try RunDirectoryCheck.requireFresh(runDirectory, store: store) }
            state = TrainingState(layout: .init(shape: configuration.shape),
                                  seed: configuration.seed, adam: configuration.adam)
        }
        return PreparedRun(train: train, test: test, dataDirectory: dataDirectory, configuration: configuration, state: state,
                           resumed: checkpoint != nil)
    }

    /// The setting flags the user gave, over the defaults (or over the checkpoint's settings):
    /// every option of `Train` whose flag is a declared setting's, set through the setting's text
    /// (which reads back exactly).
    private func apply(to c: inout TrainingConfiguration, defaultThreads: Int) {
        c.threads = defaultThreads
        for property in Mirror(reflecting: self).children {
            // A property wrapper is stored as `_name`; ArgumentParser names its flag `--name` in kebab case.
            guard let option = property.value as? GivenSetting, let text = option.givenText,
                  let name = property.label?.dropFirst(),
                  let setting = TrainingConfiguration.settings.first(where: { $0.flag == kebabCase(name) }) else { continue }
            let read = setting.read(text, &c)
            assert(read, "--\(setting.flag) \(text) did not read back")
        }
    }
}

/// An option of a setting's type, as the text of its value if the user gave it.
private protocol GivenSetting { var givenText: String? { get } }
extension Option: GivenSetting where Value: OptionalSettingValue {
    fileprivate var givenText: String? { wrappedValue.givenText }
}
protocol OptionalSettingValue { var givenText: String? { get } }
extension Optional: OptionalSettingValue where Wrapped: SettingValue {
    var givenText: String? { map(\.settingText) }
}

/// "klWeight" as "kl-weight".
private func kebabCase(_ name: Substring) -> String {
    name.map { $0.isUppercase ? "-" + $0.lowercased() : String($0) }.joined()
}

enum RunDirectoryCheck {
    /// A new run never writes into a directory that holds another run's files.
    static func requireFresh(_ directory: URL, store: CheckpointStore) throws {
        let hasCheckpoints = !(try store.steps()).isEmpty
        let hasMetrics = FileManager.default.fileExists(atPath: directory.appendingPathComponent("metrics.jsonl").path)
        if hasCheckpoints || hasMetrics {
            throw ValidationError("\(directory.path) already holds a run; pass --resume to continue it, or choose another --run-dir")
        }
    }
}

import ArgumentParser
import Checkpoint
import Dataset
import Distributed
import Foundation
import Kernels
import Media
import Model
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the model on MNIST (or any IDX set of 28x28 images).",
        discussion: """
        Checkpoints are written to RUN/checkpoints at the end of every epoch (and every \
        --checkpoint-every steps), metrics to RUN/metrics.jsonl. With --resume the run continues \
        from its newest valid checkpoint and ends exactly as if it had never stopped; settings not \
        given are taken from the checkpoint. SIGTERM, SIGINT, SIGHUP or SIGUSR1 stop every rank after the \
        same step; rank 0 saves a checkpoint and the exit status is 75 (interrupted, resumable). \
        A second signal exits at once. Under mpirun, a rank whose heartbeats stop for \
        --heartbeat-timeout (frozen, dead or cut off), or one that keeps the others waiting in a \
        collective longer than its timeout (alive but slow), or one that hangs in MPI's start-up \
        for --slow-collective-timeout, is named in one line and the job ends with exit status 69 \
        (a peer did not answer; resumable from the newest checkpoint, which is kept).
        """)

    /// The exit status of a run stopped by a signal with its checkpoint saved (EX_TEMPFAIL).
    static let interruptedStatus: Int32 = 75
    /// The exit status of a job ended because a rank did not answer in a collective in time
    /// (EX_UNAVAILABLE).
    static let timedOutStatus: Int32 = 69

    @OptionGroup var dataOption: DataOption

    @Option(name: .customLong("run-dir"), help: "Run directory: checkpoints, metrics and outputs.")
    var runDir = "runs/vae"

    // The run's settings: each flag is named after its property, and its help, its check and
    // how `apply` sets it are its declaration's (`TrainingConfiguration.settings`).
    @Option(help: declared("epochs")) var epochs: Int?
    @Option(help: declared("batch-size")) var batchSize: Int?
    @Option(help: declared("micro-batch-size")) var microBatchSize: Int?
    @Option(help: declared("latent-dim")) var latentDim: Int?
    @Option(help: declared("learning-rate")) var learningRate: Float?
    @Option(help: declared("kl-weight")) var klWeight: Float?
    @Option(help: declared("seed")) var seed: UInt64?
    @Option(help: declared("limit")) var limit: Int?
    @Option(help: declared("checkpoint-every")) var checkpointEvery: Int?
    @Option(help: declared("keep-checkpoints")) var keepCheckpoints: Int?
    @Option(help: declared("test-images")) var testImages: Int?
    @Option(help: declared("threads")) var threads: Int?

    @Option(name: .customLong("outputs-every"), help: "Also write RUN/outputs every N epochs (they are always written at the end).")
    var outputsEvery: Int?

    @Flag(inversion: .prefixedNo, help: "Write TensorBoard event files to RUN/tensorboard.")
    var tensorboard = true

    @Option(name: .customLong("tensorboard-every"), help: "Log the running losses to TensorBoard every N steps.")
    var tensorboardEvery = 50

    @Option(name: .customLong("collective-timeout"),
            help: ArgumentHelp("Under mpirun, how long a rank waits for the others in a collective of a training step before it ends the job (exit 69). Such a wait lasts at most the slowest rank's share of one step (or a --checkpoint-every save, 1 MB), well under a second at the seed's batch: the default leaves a busy or swapping node a hundredfold margin. (default: 120)",
                               valueName: "seconds"))
    var collectiveTimeout: Double?

    @Option(name: .customLong("slow-collective-timeout"),
            help: ArgumentHelp("The same for the collectives that wait for files: MPI's start-up and every rank loading its data and checkpoint, rank 0 writing an epoch's metrics, outputs and checkpoint. Longer, for slow shared filesystems. (default: 600)",
                               valueName: "seconds"))
    var slowCollectiveTimeout: Double?

    @Option(name: .customLong("heartbeat-timeout"),
            help: ArgumentHelp("Under mpirun, how long a rank may send no heartbeat (one a second, on a thread of its own, whatever the step is doing) before it counts as frozen, dead or cut off: the job then ends with one line naming it (exit 69). Ten missed beats: a loaded or swapping node is late by a beat or two, not ten, and a lost host is found in seconds rather than at a collective's deadline. (default: 10)",
                               valueName: "seconds"))
    var heartbeatTimeout: Double?

    @Flag(help: "Continue the run in --run-dir from its newest valid checkpoint.")
    var resume = false

    @Flag(name: .customLong("allow-config-change"), help: ArgumentHelp(
        "With --resume, accept a different " + TrainingConfiguration.settings.filter { $0.role == .identity }.map(\.name).joined(separator: ", ")
        + " or data set."))
    var allowConfigChange = false

    func validate() throws {
        if let outputsEvery, outputsEvery < 1 { throw ValidationError("--outputs-every must be at least 1 (got \(outputsEvery))") }
        if tensorboardEvery < 1 { throw ValidationError("--tensorboard-every must be at least 1 (got \(tensorboardEvery))") }
        for (flag, value) in [("--collective-timeout", collectiveTimeout), ("--slow-collective-timeout", slowCollectiveTimeout),
                              ("--heartbeat-timeout", heartbeatTimeout)] {
            if let value, !(value > 0 && value.isFinite) { throw ValidationError("\(flag) must be a positive number of seconds (got \(value))") }
        }
    }

    func run() throws {
        StopSignals.install()
        var outcome = TrainingOutcome.completed
        let defaults = CollectiveTimeouts()
        let timeouts = CollectiveTimeouts(normal: collectiveTimeout ?? defaults.normal, slow: slowCollectiveTimeout ?? defaults.slow,
                                          heartbeat: heartbeatTimeout ?? defaults.heartbeat)
        try Job.run(timeouts: timeouts) { communicator in outcome = try train(communicator) }
        if case .interrupted = outcome { throw ExitCode(Self.interruptedStatus) }
    }

    private func train(_ communicator: Communicator) throws -> TrainingOutcome {
        let console = Console(quiet: !communicator.isRoot)
        let runDirectory = URL(fileURLWithPath: runDir)
        let faults = try Faults.fromEnvironment()
        // Ranks already share the cores out; a lone process takes them all.
        let defaultThreads = communicator.size > 1 ? 1 : ProcessInfo.processInfo.activeProcessorCount
        let (train, test, dataDirectory, configuration, state) = try communicator.collectively("start-up agreement") {
            try prepare(runDirectory: runDirectory, isRoot: communicator.isRoot, defaultThreads: defaultThreads, console: console)
        }
        // Every rank must run the same job: same settings, same data, same starting point.
        let settings = TrainingConfiguration.settings.filter { $0.key != nil }.map { "\($0.flag) \($0.text(configuration))" }
        let agreement = "\(settings) \(train.fingerprint) \(state.step)"
        guard try communicator.allAgree(on: stableChecksum(agreement.utf8), label: "start-up agreement") else {
            throw AgreedFailure("ranks were started with different configurations (flags, data or checkpoints differ between ranks); every rank must get the same arguments")
        }
        // ... and round alike: what is left of the bits that can differ between hosts.
        let kernels = try RankKernels.gather(communicator)
        try kernels.requireSameBits()
        if state.epoch >= configuration.epochs {
            console.say("nothing to do: the run has already completed \(state.epoch) of \(configuration.epochs) epochs")
            return .completed
        }
        if communicator.isRoot {
            do {
                try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("cannot create run directory \(runDirectory.path): \(error.localizedDescription)")
            }
        }
        let tensorBoard = communicator.isRoot && tensorboard
            ? try TensorBoardLog(runDirectory: runDirectory, every: tensorboardEvery, resumingAt: resume ? state.step : nil) : nil
        // The settings that make the run what it is: not the world size or threads, which change nothing in it.
        if !resume { try tensorBoard?.settings([("data", dataDirectory.path)] + configuration.shownSettings) }
        // TensorBoard first: an epoch's scalars go before the pictures the console's hook writes.
        let observers = Observers((tensorBoard.map { [$0] } ?? []) + [console])
        let trainer = Trainer(configuration: configuration, data: train, testData: test, state: state,
                              runDirectory: runDirectory, communicator: communicator, observer: observers)
        trainer.stopRequested = { StopSignals.stopRequested }
        trainer.faults = faults
        if let outputsEvery {
            console.onEpoch = { [unowned trainer] epoch in
                guard epoch % outputsEvery == 0 && epoch < configuration.epochs else { return }
                let report = try writeOutputs(trainer, train: train, test: test, runDirectory: runDirectory,
                                              dataDirectory: dataDirectory, worldSize: communicator.size, tensorBoard: tensorBoard)
                console.say("outputs of epoch \(epoch): \(report.path)")
            }
        }
        console.say("training on \(trainer.imageCount) images from \(dataDirectory.path): \(configuration.epochs) epochs of \(trainer.stepsPerEpoch) steps, batch \(configuration.batchSize), latent \(configuration.latentDimension), \(communicator.size) rank(s) x \(configuration.threads) thread(s), C kernels \(kernels) -> \(runDirectory.path)")
        let outcome = try withExtendedLifetime(observers) { try trainer.run() }
        guard communicator.isRoot else { return outcome }
        let store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))
        if case .interrupted(let step) = outcome {
            console.note("interrupted: stopped after step \(step) (epoch \(trainer.state.epoch + 1)) with its checkpoint \(store.url(forStep: step).path); continue with --resume")
            return outcome
        }
        let newest = try store.steps().last.map { store.url(forStep: $0).path } ?? "none"
        console.say("done: \(trainer.state.epoch) epochs, step \(trainer.state.step); newest checkpoint \(newest)")
        let report = try writeOutputs(trainer, train: train, test: test, runDirectory: runDirectory,
                                      dataDirectory: dataDirectory, worldSize: communicator.size, tensorBoard: tensorBoard)
        console.say("outputs: \(report.path) and the pictures beside it")
        return outcome
    }

    /// The run's pictures and report page, for the parameters the trainer holds now, and the
    /// pictures in TensorBoard at the current step.
    private func writeOutputs(_ trainer: Trainer, train: ImageSet, test: ImageSet, runDirectory: URL,
                              dataDirectory: URL, worldSize: Int, tensorBoard: TensorBoardLog?) throws -> URL {
        let c = trainer.configuration, state = trainer.state
        let settings = [("position", "epoch \(state.epoch) of \(c.epochs), step \(state.step)"),
                        ("data", "\(dataDirectory.path) (\(trainer.imageCount) training images)")]
            + c.shownSettings + [("ranks", "\(worldSize)")]
        let weights = InferenceWeights(model: trainer.model, parameters: state.parameters, klWeight: c.klWeight)
        let report = try RunOutputs(runDirectory: runDirectory).write(weights, train: train, test: test, settings: settings)
        try tensorBoard?.outputs(in: report.deletingLastPathComponent(), step: state.step)
        return report
    }

    /// Loads the data and the starting state, and settles the configuration.
    private func prepare(runDirectory: URL, isRoot: Bool, defaultThreads: Int, console: Console)
        throws -> (ImageSet, ImageSet, URL, TrainingConfiguration, TrainingState) {
        let dataDirectory = try dataOption.directory
        let train = try ImageSet.load(.train, from: dataDirectory)
        let test = try ImageSet.load(.test, from: dataDirectory)
        let store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))

        var configuration = TrainingConfiguration()
        let state: TrainingState
        if resume {
            guard let file = try store.newestValid(warn: { console.note("skipping \($0)") }) else {
                throw ValidationError("--resume: no checkpoint to resume from in \(store.directory.path)")
            }
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
            state = TrainingState(layout: .init(latentDimension: configuration.latentDimension),
                                  seed: configuration.seed, adam: configuration.adam)
        }
        return (train, test, dataDirectory, configuration, state)
    }

    /// The setting flags the user gave, over the defaults (or over the checkpoint's settings):
    /// every option above whose flag is a declared setting's, set through the setting's text
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

/// The help of the setting of `flag`, from its declaration.
private func declared(_ flag: String) -> ArgumentHelp { ArgumentHelp(TrainingConfiguration.setting(flag).help) }

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

/// Where the data is: `--data`, or the MNIST copy the repository carries in `data/mnist`,
/// found from the executable's location (it lives in the repository's build folder).
enum DataLocation {
    static func resolve(_ given: String?) throws -> URL {
        if let given {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: given, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--data \(given): no such directory")
            }
            return URL(fileURLWithPath: given)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let folder = executable.deletingLastPathComponent()
        for candidate in [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)] + ancestors(of: folder) {
            let bundled = candidate.appendingPathComponent("data/mnist")
            if FileManager.default.fileExists(atPath: bundled.appendingPathComponent("SHA256SUMS").path) {
                return bundled
            }
        }
        throw ValidationError("no --data given and the bundled data/mnist was not found near \(executable.path); pass --data DIR")
    }

    private static func ancestors(of url: URL) -> [URL] {
        var out: [URL] = []
        var current = url
        while current.path != "/" {
            out.append(current)
            current = current.deletingLastPathComponent()
        }
        return out
    }
}

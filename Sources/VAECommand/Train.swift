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
        A second signal exits at once. Under mpirun, a rank that waits in a collective longer than \
        its timeout (a peer frozen, dead or cut off) says so and ends the job with exit status 69 \
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

    @Option(help: "Total epochs of the run; a resumed run continues until this many are done. (default: 150, or a resumed run's own)")
    var epochs: Int?

    @Option(name: .customLong("batch-size"),
            help: "Images per optimiser step, over all ranks. Up to 64 micro-batches a step, gradients travel between ranks as 4 bytes a value, 8 beyond. (default: 128)")
    var batchSize: Int?

    @Option(name: .customLong("micro-batch-size"),
            help: "Images per forward/backward call; gradients of micro-batches are summed exactly. (default: 16)")
    var microBatchSize: Int?

    @Option(name: .customLong("latent-dim"), help: "Size of the latent space. (default: 2)")
    var latentDim: Int?

    @Option(name: .customLong("learning-rate"), help: "Adam's learning rate. (default: 0.001)")
    var learningRate: Float?

    @Option(name: .customLong("kl-weight"),
            help: "Weight of the KL term in the loss; below 1 gives sharper upscaling and a less regular latent space. (default: 1, the seed's VAE)")
    var klWeight: Float?

    @Option(help: "Seed of everything random: initial weights, shuffles, sampling noise. (default: 1)")
    var seed: UInt64?

    @Option(help: "Train on the first N training images only.")
    var limit: Int?

    @Option(name: .customLong("checkpoint-every"), help: "Also checkpoint every N steps. (default: only at epoch ends, or a resumed run's own)")
    var checkpointEvery: Int?

    @Option(name: .customLong("keep-checkpoints"), help: "How many checkpoints to keep. (default: 3, or a resumed run's own)")
    var keepCheckpoints: Int?

    @Option(name: .customLong("test-images"),
            help: "Score the first N test images at every epoch's end (0: none). (default: 10000)")
    var testImages: Int?

    @Option(help: "Threads computing micro-batches in each process; results do not depend on it. (default: all cores for a single process, 1 per MPI rank)")
    var threads: Int?

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
            help: ArgumentHelp("The same for the collectives that wait for files: every rank loading its data and checkpoint at start-up, rank 0 writing an epoch's metrics, outputs and checkpoint. Longer, for slow shared filesystems. (default: 600)",
                               valueName: "seconds"))
    var slowCollectiveTimeout: Double?

    @Flag(help: "Continue the run in --run-dir from its newest valid checkpoint.")
    var resume = false

    @Flag(name: .customLong("allow-config-change"),
          help: "With --resume, accept a different batch size, learning rate, KL weight, seed, limit or data set.")
    var allowConfigChange = false

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256 (got \(threads))") }
        if let outputsEvery, outputsEvery < 1 { throw ValidationError("--outputs-every must be at least 1 (got \(outputsEvery))") }
        if tensorboardEvery < 1 { throw ValidationError("--tensorboard-every must be at least 1 (got \(tensorboardEvery))") }
        for (flag, value) in [("--collective-timeout", collectiveTimeout), ("--slow-collective-timeout", slowCollectiveTimeout)] {
            if let value, !(value > 0 && value.isFinite) { throw ValidationError("\(flag) must be a positive number of seconds (got \(value))") }
        }
    }

    func run() throws {
        StopSignals.install()
        var outcome = TrainingOutcome.completed
        try Job.run { communicator in outcome = try train(communicator) }
        if case .interrupted = outcome { throw ExitCode(Self.interruptedStatus) }
    }

    private func train(_ communicator: Communicator) throws -> TrainingOutcome {
        let console = Console(quiet: !communicator.isRoot)
        let runDirectory = URL(fileURLWithPath: runDir)
        let faults = try Faults.fromEnvironment()
        let defaults = CollectiveTimeouts()
        communicator.timeouts = CollectiveTimeouts(normal: collectiveTimeout ?? defaults.normal,
                                                   slow: slowCollectiveTimeout ?? defaults.slow)
        var (train, test, dataDirectory, configuration, state) = try communicator.collectively("start-up agreement") {
            try prepare(runDirectory: runDirectory, isRoot: communicator.isRoot, console: console)
        }
        // Ranks already share the cores out; a lone process takes them all.
        configuration.threads = threads ?? (communicator.size > 1 ? 1 : ProcessInfo.processInfo.activeProcessorCount)
        // Every rank must run the same job: same settings, same data, same starting point.
        let agreement = "\(RunIdentity(configuration, dataset: train.fingerprint)) \(configuration.epochs) \(state.step) \(String(describing: configuration.checkpointEvery))"
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
        if !resume { try tensorBoard?.settings(tensorBoardSettings(configuration, dataDirectory: dataDirectory)) }
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
                                              dataDirectory: dataDirectory, worldSize: communicator.size)
                try tensorBoard?.outputs(in: report.deletingLastPathComponent(), step: trainer.state.step)
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
                                      dataDirectory: dataDirectory, worldSize: communicator.size)
        try tensorBoard?.outputs(in: report.deletingLastPathComponent(), step: trainer.state.step)
        console.say("outputs: \(report.path) and the pictures beside it")
        return outcome
    }

    /// The run's pictures and report page, for the parameters the trainer holds now.
    private func writeOutputs(_ trainer: Trainer, train: ImageSet, test: ImageSet, runDirectory: URL,
                              dataDirectory: URL, worldSize: Int) throws -> URL {
        let c = trainer.configuration, state = trainer.state
        let settings: [(String, String)] = [
            ("position", "epoch \(state.epoch) of \(c.epochs), step \(state.step)"),
            ("data", "\(dataDirectory.path) (\(trainer.imageCount) training images)"),
            ("latent dimension", "\(c.latentDimension)"),
            ("batch size", "\(c.batchSize) (micro-batches of \(c.microBatchSize))"),
            ("learning rate", "\(c.adam.learningRate)"),
            ("KL weight", c.klWeight == 1 ? "1 (the seed's loss)" : "\(c.klWeight)"),
            ("seed", "\(c.seed)"),
            ("ranks", "\(worldSize)"),
        ]
        let weights = InferenceWeights(model: trainer.model, parameters: state.parameters)
        return try RunOutputs(runDirectory: runDirectory).write(weights, train: train, test: test, settings: settings)
    }

    /// The settings TensorBoard shows as text: those that make the run what it is (not the world
    /// size or threads, which change nothing in it, nor the epochs planned, which a resume may change).
    private func tensorBoardSettings(_ c: TrainingConfiguration, dataDirectory: URL) -> [(String, String)] {
        [("data", dataDirectory.path), ("limit", c.limit.map(String.init) ?? "none"),
         ("latent dimension", "\(c.latentDimension)"), ("batch size", "\(c.batchSize)"),
         ("micro-batch size", "\(c.microBatchSize)"), ("learning rate", "\(c.adam.learningRate)"),
         ("KL weight", "\(c.klWeight)"), ("seed", "\(c.seed)"), ("test images", "\(c.testImages)")]
    }

    /// Loads the data and the starting state, and settles the configuration.
    private func prepare(runDirectory: URL, isRoot: Bool, console: Console)
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
            configuration = TrainingConfiguration(resuming: contents.metadata, overrides: apply(to:))
            try configuration.validate()
            let requested = RunIdentity(configuration, dataset: train.fingerprint)
            if requested.latentDimension != identity.latentDimension {
                throw ValidationError("cannot resume \(file.url.path): it has latent dimension \(identity.latentDimension), not \(requested.latentDimension)")
            }
            let differences = identity.differences(from: requested)
            if !differences.isEmpty && !allowConfigChange {
                throw ValidationError("cannot resume \(file.url.path): it was trained with \(differences.joined(separator: ", ")); pass --allow-config-change to continue anyway")
            }
            var resumed = saved
            resumed.adam = Adam(resuming: saved.adam, learningRate: configuration.adam.learningRate)
            state = resumed
            console.note("resuming from \(file.url.path) (epoch \(saved.epoch), step \(saved.step))")
        } else {
            apply(to: &configuration)
            try configuration.validate()
            if isRoot { try RunDirectoryCheck.requireFresh(runDirectory, store: store) }
            state = TrainingState(layout: .init(latentDimension: configuration.latentDimension),
                                  seed: configuration.seed, adam: configuration.adam)
        }
        return (train, test, dataDirectory, configuration, state)
    }

    /// The flags the user gave, over the defaults (or over the checkpoint's settings).
    private func apply(to c: inout TrainingConfiguration) {
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let microBatchSize { c.microBatchSize = microBatchSize }
        if let latentDim { c.latentDimension = latentDim }
        if let learningRate { c.adam.learningRate = learningRate }
        if let klWeight { c.klWeight = klWeight }
        if let seed { c.seed = seed }
        if let limit { c.limit = limit }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        if let keepCheckpoints { c.keepCheckpoints = keepCheckpoints }
        if let testImages { c.testImages = testImages }
    }
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

import ArgumentParser
import Checkpoint
import Distributed
import Foundation
import Kernels
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
    @Option(help: declared("encoder-width")) var encoderWidth: Int?
    @Option(help: declared("learning-rate")) var learningRate: Float?
    @Option(help: declared("cosine-decay-epochs")) var cosineDecayEpochs: Int?
    @Option(help: declared("kl-weight")) var klWeight: Float?
    @Option(help: declared("precision")) var precision: Precision?
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

    @Flag(name: .customLong("resume-if-saved"),
          help: "Continue from the newest valid checkpoint in --run-dir if it holds one, otherwise start the run (what launch/train passes on a restart).")
    var resumeIfSaved = false

    @Flag(name: .customLong("allow-config-change"), help: ArgumentHelp(
        "With --resume or --resume-if-saved, accept a different " + TrainingConfiguration.settings.filter { $0.role == .identity }.map(\.name).joined(separator: ", ")
        + " or data set."))
    var allowConfigChange = false

    func validate() throws {
        if resume && resumeIfSaved { throw ValidationError("--resume and --resume-if-saved do not go together: give one") }
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
        let run = try communicator.collectively("start-up agreement") {
            try prepare(runDirectory: runDirectory, isRoot: communicator.isRoot, defaultThreads: defaultThreads, console: console)
        }
        let kernels = try StartUpAgreement.require(run, communicator)
        let configuration = run.configuration
        if run.state.epoch >= configuration.epochs {
            console.say("nothing to do: the run has already completed \(run.state.epoch) of \(configuration.epochs) epochs")
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
            ? try TensorBoardLog(runDirectory: runDirectory, every: tensorboardEvery, resumingAt: run.resumed ? run.state.step : nil) : nil
        // The settings that make the run what it is: not the world size or threads, which change nothing in it.
        if !run.resumed { try tensorBoard?.settings([("data", run.dataDirectory.path)] + configuration.shownSettings) }
        let outputs = TrainOutputs(runDirectory: runDirectory, run: run, worldSize: communicator.size, tensorBoard: tensorBoard)
        // TensorBoard first: an epoch's scalars go before the pictures the console's hook writes.
        let observers = Observers((tensorBoard.map { [$0] } ?? []) + [console])
        let trainer = Trainer(configuration: configuration, data: run.train, testData: run.test, state: run.state,
                              runDirectory: runDirectory, communicator: communicator, observer: observers)
        trainer.stopRequested = { StopSignals.stopRequested }
        trainer.faults = faults
        if let outputsEvery {
            console.onEpoch = { [unowned trainer] epoch in
                guard epoch % outputsEvery == 0 && epoch < configuration.epochs else { return }
                let report = try outputs.write(trainer)
                console.say("outputs of epoch \(epoch): \(report.path)")
            }
        }
        console.say("training on \(trainer.imageCount) images from \(run.dataDirectory.path): \(configuration.epochs) epochs of \(trainer.stepsPerEpoch) steps, batch \(configuration.batchSize), \(configuration.shape), precision \(configuration.precision), \(communicator.size) rank(s) x \(configuration.threads) thread(s), C kernels \(kernels) -> \(runDirectory.path)")
        let outcome = try withExtendedLifetime(observers) { try trainer.run() }
        guard communicator.isRoot else { return outcome }
        let store = CheckpointStore(directory: runDirectory.appendingPathComponent("checkpoints"))
        if case .interrupted(let step) = outcome {
            console.note("interrupted: stopped after step \(step) (epoch \(trainer.state.epoch + 1)) with its checkpoint \(store.url(forStep: step).path); continue with --resume")
            return outcome
        }
        let newest = try store.steps().last.map { store.url(forStep: $0).path } ?? "none"
        console.say("done: \(trainer.state.epoch) epochs, step \(trainer.state.step); newest checkpoint \(newest)")
        let report = try outputs.write(trainer)
        console.say("outputs: \(report.path) and the pictures beside it")
        return outcome
    }
}

/// The help of the setting of `flag`, from its declaration.
extension Precision: ExpressibleByArgument {}

private func declared(_ flag: String) -> ArgumentHelp { ArgumentHelp(TrainingConfiguration.setting(flag).help) }

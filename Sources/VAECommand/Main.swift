import ArgumentParser
import Distributed
import Foundation
import Kernels

@main
struct VAECommandLine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae",
        abstract: "Train a variational autoencoder that upscales 8x8 digits to 28x28, and use it.",
        discussion: """
        Runs as one process, or as one rank per core under mpirun. Runs live in a run \
        directory holding checkpoints/, metrics.jsonl and the outputs.

        VAE_KERNELS=baseline|avx2|avx512 chooses the build of the hand-written kernels \
        (default: the fastest this CPU runs; \(KernelBuild.best) here).
        """,
        subcommands: [Train.self, Upscale.self, Morph.self, Latent.self, Eval.self, Report.self, Export.self, Inspect.self])

    /// Bad input gets one line on stderr and a non-zero exit, never a trace.
    static func main() {
        MathLibrary.returnBigBlocks()
        do {
            var command = try parseAsRoot()
            try KernelBuild.useFromEnvironment(ProcessInfo.processInfo.environment)
            try command.run()
        } catch where exitCode(for: error) == .success {
            // --help, --version: the full text, on stdout.
            Console.say(fullMessage(for: error))
            Foundation.exit(0)
        } catch let status as ExitCode {
            // A status that was already explained (an interrupted run).
            Foundation.exit(status.rawValue)
        } catch where isArgumentError(error) {
            // Every rank parsed the same flags: one of them says what is wrong.
            if let rank = MPICommunicator.launcherRank(ProcessInfo.processInfo.environment), rank != 0 {
                Foundation.exit(exitCode(for: error).rawValue)
            }
            Console.fail(message(for: error).split(separator: "\n").joined(separator: "; ") + " (see 'vae --help')",
                         code: exitCode(for: error).rawValue)
        } catch {
            Console.fail(String(describing: error), code: 1)
        }
    }

    /// ArgumentParser's own errors (parsing, validation) and a bad VAE_KERNELS versus the trainer's.
    static func isArgumentError(_ error: Error) -> Bool {
        error is ValidationError || error is KernelBuild.Choice || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }
}

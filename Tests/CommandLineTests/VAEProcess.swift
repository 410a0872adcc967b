import Foundation
import Synchronization
import Testing

/// Runs the release `vae` binary the tests were built beside, as a user would.
struct VAEProcess {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `vae` executable in the same build folder as this test bundle.
    static let executable: URL = {
        var folder = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("vae")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        return repository.appendingPathComponent(".build/release/vae")
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// Runs to completion; output goes through files so that no pipe can fill up and block.
    static func run(_ arguments: [String], in directory: URL? = nil) throws -> Result {
        try launch(executable, arguments, in: directory)
    }

    /// `mpirun` with the flags a root, terminal-less CI machine needs, then `ranks` given as
    /// MPMD parts: each part is a rank count and that rank group's `vae` arguments.
    static func mpirun(_ parts: [(ranks: Int, arguments: [String])], environment: [String: String] = [:]) throws -> Result {
        var arguments = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
        for name in environment.keys.sorted() { arguments += ["-x", name] }
        for (index, part) in parts.enumerated() {
            if index > 0 { arguments.append(":") }
            arguments += ["-n", "\(part.ranks)", executable.path] + part.arguments
        }
        return try start(URL(fileURLWithPath: "/usr/bin/env"), ["mpirun"] + arguments, environment: environment).wait()
    }

    static func launch(_ executable: URL, _ arguments: [String], in directory: URL?) throws -> Result {
        try start(executable, arguments, in: directory).wait()
    }

    /// A process running in the background, for tests that signal or kill it mid-run.
    final class Running {
        let process = Process()
        let scratch: URL
        var outURL: URL { scratch.appendingPathComponent("stdout") }
        var errURL: URL { scratch.appendingPathComponent("stderr") }

        init(scratch: URL) { self.scratch = scratch }

        var pid: Int32 { process.processIdentifier }
        func signal(_ signal: Int32) { kill(pid, signal) }
        /// What it has written to stderr so far.
        var stderrSoFar: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

        func wait() throws -> Result {
            defer { try? FileManager.default.removeItem(at: scratch) }
            process.waitUntilExit()
            return Result(status: process.terminationStatus,
                          stdout: try String(contentsOf: outURL, encoding: .utf8),
                          stderr: try String(contentsOf: errURL, encoding: .utf8))
        }
    }

    /// Starts a process; output goes through files so that no pipe can fill up and block.
    static func start(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                      environment extra: [String: String] = [:]) throws -> Running {
        let running = Running(scratch: try temporaryDirectory())
        _ = FileManager.default.createFile(atPath: running.outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: running.errURL.path, contents: nil)
        let process = running.process
        process.executableURL = executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: running.outURL)
        process.standardError = try FileHandle(forWritingTo: running.errURL)
        // The child inherits this thread's signal mask, and a test thread blocks the signals
        // the tests send; the child gets them unblocked, as from a shell.
        var unblock = sigset_t(), previous = sigset_t()
        sigemptyset(&unblock)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] { sigaddset(&unblock, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        return running
    }

    /// A finished `vae train --run-dir FOLDER` run with `flags` in a fresh folder, for a suite's tests to share.
    static func trainedRun(_ flags: [String]) -> URL {
        let folder = try! temporaryDirectory()
        let result = try! run(["train", "--run-dir", folder.path] + flags)
        precondition(result.status == 0, result.stderr)
        return folder
    }

    /// A fresh folder inside `testsFolder`. Names are short: a Unix socket's path (the test
    /// Slurm's munge socket lives in one) holds at most 107 bytes.
    static func temporaryDirectory() throws -> URL {
        let url = testsFolder.appendingPathComponent(String(folders.add(1, ordering: .relaxed).newValue))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url
    }
    private static let folders = Atomic<Int>(0)

    /// The folder of this test process's folders (runs shared by a suite's tests among them),
    /// removed when the process exits.
    static let testsFolder: URL = {
        let name = "vae-cli-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 36))"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: VAEProcess.testsFolder) }
        return url
    }()
}

/// A refusal: non-zero exit, exactly one line on stderr containing every fragment.
func expectRefusal(_ result: VAEProcess.Result, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status != 0, "exit status 0; stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderrLines.count == 1, "stderr should be one line, was: \(result.stderr)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(result.stderr.contains(fragment), "stderr lacks '\(fragment)': \(result.stderr)", sourceLocation: sourceLocation)
    }
    #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Backtrace"), sourceLocation: sourceLocation)
}

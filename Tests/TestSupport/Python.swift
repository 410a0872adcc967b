import Foundation

/// A Python snippet that exited with an error; the message holds its stderr.
public struct PythonFailed: Error, CustomStringConvertible {
    public let description: String
}

/// Runs a Python snippet with `arguments` as `sys.argv[1...]` and returns its standard output;
/// throws `PythonFailed` with its stderr when it exits with an error.
public func runPython(_ script: String, _ arguments: [String] = []) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Drain stderr concurrently so a chatty child cannot block on a full pipe.
    nonisolated(unsafe) var errorData = Data()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errorData = errors.fileHandleForReading.readDataToEndOfFile()
        drained.signal()
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw PythonFailed(description: "python3 exited with \(process.terminationStatus): " + String(decoding: errorData, as: UTF8.self))
    }
    return data
}

import ArgumentParser
import Dataset
import Evaluation
import Foundation
import Model

/// `--checkpoint`, as every inference command takes it.
struct WeightsOption: ParsableArguments {
    @Option(help: "Model weights: a checkpoint, a run directory (its newest checkpoint), or any safetensors file with the Keras-named tensors.")
    var checkpoint: String

    func load() throws -> InferenceWeights {
        try InferenceWeights(URL(fileURLWithPath: checkpoint), warn: { Console.note("skipping \($0)") })
    }
}

/// `--data`, with the bundled MNIST as the default.
struct DataOption: ParsableArguments {
    @Option(help: "Folder of IDX files with MNIST's names, raw or .gz. (default: the bundled data/mnist)")
    var data: String?

    var directory: URL { get throws { try DataLocation.resolve(data) } }

    func load(_ split: Split) throws -> ImageSet { try ImageSet.load(split, from: try directory) }
}

/// `--reader`, with the bundled data/digit-reader.safetensors as the default.
struct ReaderOption: ParsableArguments {
    @Option(help: "The digit reader's weights. (default: the bundled data/\(DigitReader.fileName))")
    var reader: String?

    func load() throws -> DigitReader {
        try reader.map { try DigitReader(URL(fileURLWithPath: $0)) } ?? Self.bundled()
    }

    /// The reader beside the bundled MNIST copy.
    static func bundled() throws -> DigitReader {
        guard let data = try? DataLocation.resolve(nil) else {
            throw ValidationError("the bundled data/\(DigitReader.fileName) was not found near the vae executable; pass --reader FILE")
        }
        return try DigitReader(data.deletingLastPathComponent().appendingPathComponent(DigitReader.fileName))
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

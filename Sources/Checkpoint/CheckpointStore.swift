import FileIO
import Foundation

/// The `checkpoints/` folder of a run: one `step-NNNNNNNNN.safetensors` file per saved step.
public struct CheckpointStore: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// Zero-padded so that names sort like steps and the newest is found without guessing.
    public func url(forStep step: Int) -> URL {
        let digits = String(step)
        let name = "step-" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits + ".safetensors"
        return directory.appendingPathComponent(name)
    }

    /// The steps with a checkpoint file, ascending. Temporary files and other names are ignored;
    /// a missing folder has none.
    public func steps() throws -> [Int] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch CocoaError.fileReadNoSuchFile {
            return []
        } catch {
            throw CheckpointError(directory, "cannot list the checkpoints folder")
        }
        return names.compactMap(step(inName:)).sorted()
    }

    /// The newest checkpoint that reads and verifies, or nil if there is none. Each newer one
    /// that fails is passed to `warn` with its reason (one line naming the file) and skipped.
    public func newestValid(warn: (String) -> Void) throws -> SafeTensorsFile? {
        for step in try steps().reversed() {
            do {
                return try SafeTensors.read(url(forStep: step), requireChecksum: true)
            } catch let error as CheckpointError {
                warn(error.description)
            }
        }
        return nil
    }

    /// Writes the checkpoint of `step` atomically (creating the folder if needed), then deletes
    /// all but the newest `keepLast` checkpoints. The file just written is never deleted, even
    /// if checkpoints of later steps exist. `beforeRename` is a hook for crash tests.
    @discardableResult
    public func save(step: Int, tensors: [TensorView], metadata: [String: String], keepLast: Int,
                     beforeRename: () -> Void = {}) throws -> URL {
        let target = url(forStep: step)
        guard step >= 0 else { throw CheckpointError(target, "step \(step) is negative") }
        guard keepLast >= 1 else { throw CheckpointError(target, "keepLast is \(keepLast); at least the new checkpoint must be kept") }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(directory, "cannot create the checkpoints folder")
        }
        try SafeTensors.write(tensors, metadata: metadata, to: target, beforeRename: beforeRename)

        let others = try steps().filter { $0 != step }
        for old in others.dropLast(keepLast - 1) {
            let doomed = url(forStep: old)
            do {
                try FileManager.default.removeItem(at: doomed)
            } catch {
                throw CheckpointError(doomed, "cannot delete this old checkpoint; the new one is saved at \(target.path)")
            }
        }
        return target
    }

    /// Deletes the temporary files that writers killed mid-save left behind (they are never
    /// read as checkpoints) and returns their names. Call it only where no save is under way:
    /// one writer per run.
    @discardableResult
    public func removeLeftovers() throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let leftovers = names.filter { $0.hasPrefix(".step-") && $0.contains(".safetensors" + temporarySuffix) }.sorted()
        for name in leftovers {
            let url = directory.appendingPathComponent(name)
            do {
                try FileManager.default.removeItem(at: url)
            } catch {
                throw CheckpointError(url, "cannot delete this leftover of an interrupted save")
            }
        }
        return leftovers
    }

    private func step(inName name: String) -> Int? {
        guard name.hasPrefix("step-"), name.hasSuffix(".safetensors") else { return nil }
        let digits = name.dropFirst(5).dropLast(12)
        guard digits.count >= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}

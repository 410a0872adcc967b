import Foundation

/// What users may name where a checkpoint is expected.
public enum CheckpointLocation {
    /// `url` is a safetensors file, or a run directory (or its `checkpoints` folder) meaning its
    /// newest valid checkpoint; damaged newer ones are reported through `warn`. A file without
    /// `data_sha256` (weights from another tool) is accepted; one whose hash fails is not.
    public static func read(_ url: URL, warn: (String) -> Void) throws -> SafeTensorsFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError(url, "no such file")
        }
        guard isDirectory.boolValue else { return try SafeTensors.read(url, requireChecksum: false) }
        let folder = url.lastPathComponent == "checkpoints" ? url : url.appendingPathComponent("checkpoints")
        guard let newest = try CheckpointStore(directory: folder).newestValid(warn: warn) else {
            throw CheckpointError(url, "is a directory without a valid checkpoint in \(folder.lastPathComponent)/")
        }
        return newest
    }
}

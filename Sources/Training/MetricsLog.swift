import FileIO
import Foundation

/// `RUN/metrics.jsonl`: one JSON object per finished epoch, appended as epochs end.
struct MetricsLog {
    let url: URL

    func append(_ metrics: EpochMetrics) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(metrics)
        line.append(UInt8(ascii: "\n"))
        do {
            if !FileManager.default.fileExists(atPath: url.path) {
                try Data().write(to: url)
            }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            throw TrainingError("\(url.path): cannot append metrics: \(error.localizedDescription)")
        }
    }

    /// Drops the lines of epochs after `epoch` (left by a run that went further than the
    /// checkpoint it is resumed from), so each epoch appears once. Rewrites atomically.
    func truncate(after epoch: Int) throws {
        guard let bytes = try? readFile(url) else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n")
        let kept = lines.filter { line in
            guard let metrics = try? JSONDecoder().decode(EpochMetrics.self, from: Data(line.utf8)) else { return false }
            return metrics.epoch <= epoch
        }
        guard kept.count != lines.count else { return }
        let body = kept.map { $0 + "\n" }.joined()
        do {
            try writeAtomically(Array(body.utf8), to: url)
        } catch {
            throw TrainingError("\(url.path): cannot rewrite metrics: \(error.problem)")
        }
    }
}

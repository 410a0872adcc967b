import Foundation

/// A TensorBoard event file, `events.out.tfevents.vae` in its folder: TFRecord framing (length,
/// masked CRC-32C of the length, an `Event` message, masked CRC-32C of the message) around
/// events holding scalars, PNG images and text. Steps only grow along the file, so a resumed
/// run cuts it back to its checkpoint's step and appends: no step appears twice, and the file
/// is the one an uninterrupted run writes (apart from wall times).
///
/// The few `Event`/`Summary` fields are encoded by hand (`ProtobufMessage`): swift-protobuf
/// would bring a code generator and its plugin into the build for five small messages.
public final class EventFile {
    public static let name = "events.out.tfevents.vae"
    public let url: URL
    private let handle: FileHandle

    /// A new file (replacing a stale one), or with `resumingAt`, the existing one cut after the
    /// last record of that step or earlier (and after any damaged tail).
    public init(directory: URL, resumingAt step: Int? = nil) throws {
        let url = directory.appendingPathComponent(Self.name)
        self.url = url
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let kept = step.map { Self.keptLength(of: url, upToStep: $0) } ?? 0
            if !FileManager.default.fileExists(atPath: url.path) || kept == 0 {
                try Data().write(to: url)
            }
            handle = try FileHandle(forWritingTo: url)
            try handle.truncate(atOffset: UInt64(kept))
            try handle.seekToEnd()
        } catch {
            throw TensorBoardError("\(url.path): cannot open the event file: \(error.localizedDescription)")
        }
        if step == nil || (try? handle.offset()) == 0 {
            var event = ProtobufMessage()
            event.double(1, Date().timeIntervalSince1970)
            event.string(3, "brain.Event:2")
            try write(event)
        }
    }

    deinit { try? handle.close() }

    /// Scalars (TensorBoard's `simple_value`, float32) under their tags, at `step`.
    public func scalars(_ values: [(tag: String, value: Double)], step: Int) throws {
        var summary = ProtobufMessage()
        for (tag, value) in values {
            var entry = ProtobufMessage()
            entry.string(1, tag)
            entry.float(2, Float(value))
            summary.message(1, entry)
        }
        try write(summary: summary, step: step)
    }

    /// A PNG file's bytes as an image summary (its size read from the PNG header).
    public func image(_ tag: String, png: [UInt8], step: Int) throws {
        guard png.count > 26, png.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
            throw TensorBoardError("\(tag): not a PNG image")
        }
        func bigEndian(_ offset: Int) -> Int64 { png[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int64($1) } }
        // Colour type 0 is grey, 4 grey with alpha, 2 RGB, 6 RGBA: TensorBoard's channel count.
        let channels: Int64 = [0: 1, 4: 2, 2: 3, 6: 4][png[25]] ?? 3
        var image = ProtobufMessage()
        image.int(1, bigEndian(20))
        image.int(2, bigEndian(16))
        image.int(3, channels)
        image.data(4, png)
        var entry = ProtobufMessage()
        entry.string(1, tag)
        entry.message(4, image)
        var summary = ProtobufMessage()
        summary.message(1, entry)
        try write(summary: summary, step: step)
    }

    /// Markdown text, shown by TensorBoard's text plugin.
    public func text(_ tag: String, _ markdown: String, step: Int) throws {
        var plugin = ProtobufMessage()
        plugin.string(1, "text")
        var metadata = ProtobufMessage()
        metadata.message(1, plugin)
        var tensor = ProtobufMessage()
        tensor.int(1, 7)                         // DT_STRING
        tensor.message(2, ProtobufMessage())     // a scalar: a shape with no dimensions
        tensor.string(8, markdown)
        var entry = ProtobufMessage()
        entry.string(1, tag)
        entry.message(9, metadata)
        entry.message(8, tensor)
        var summary = ProtobufMessage()
        summary.message(1, entry)
        try write(summary: summary, step: step)
    }

    private func write(summary: ProtobufMessage, step: Int) throws {
        var event = ProtobufMessage()
        event.double(1, Date().timeIntervalSince1970)
        event.int(2, Int64(step))
        event.message(5, summary)
        try write(event)
    }

    /// One record in one write, so a process killed at any point leaves whole records and at
    /// most one torn one at the end, which a resume cuts off.
    private func write(_ event: ProtobufMessage) throws {
        var record: [UInt8] = []
        withUnsafeBytes(of: UInt64(event.bytes.count).littleEndian) { record.append(contentsOf: $0) }
        let lengthCRC = CRC32C.masked(record)
        withUnsafeBytes(of: lengthCRC.littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: event.bytes)
        withUnsafeBytes(of: CRC32C.masked(event.bytes).littleEndian) { record.append(contentsOf: $0) }
        do {
            try handle.write(contentsOf: record)
        } catch {
            throw TensorBoardError("\(url.path): cannot write: \(error.localizedDescription)")
        }
    }

    /// The length of the file's leading whole records whose step is at most `step`.
    static func keptLength(of url: URL, upToStep step: Int) -> Int {
        guard let data = try? Data(contentsOf: url) else { return 0 }
        let bytes = [UInt8](data)
        func little<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            bytes[offset..<(offset + MemoryLayout<T>.size)].reversed().reduce(0) { $0 << 8 | T($1) }
        }
        var offset = 0
        while offset + 12 <= bytes.count {
            let length = little(offset, UInt64.self)
            guard little(offset + 8, UInt32.self) == CRC32C.masked(bytes[offset..<(offset + 8)]),
                  length <= UInt64(bytes.count - offset - 16) else { break }
            let payload = bytes[(offset + 12)..<(offset + 12 + Int(length))]
            guard little(offset + 12 + Int(length), UInt32.self) == CRC32C.masked(payload),
                  Int64(bitPattern: ProtobufMessage.varintField(2, in: payload) ?? 0) <= Int64(step) else { break }
            offset += 16 + Int(length)
        }
        return offset
    }
}

public struct TensorBoardError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

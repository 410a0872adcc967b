import Checkpoint
import Dataset
import Foundation
import Media
import Testing
import TestSupport

/// Every reader of outside bytes takes random and mutated files for a bounded time: each must
/// return a value or throw its error, never crash, hang or allocate without bound. Mutations
/// start from small valid files (so they reach deep into the parsers) and are seeded, so a
/// failure can be replayed from the seed and iteration printed with it.
@Suite(.serialized)
struct ReaderFuzzTests {
    /// Per reader: stop after this many inputs or this many seconds, whichever comes first.
    static let maxInputs = 4000
    static let maxSeconds = 4.0


    /// One random change of the kinds that break parsers: flipped bits, boundary bytes, a cut,
    /// inserted or repeated bytes, a rewritten 32-bit field; or, now and then, pure noise.
    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { break }
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01].randomElement(using: &rng)!
            case 2: bytes.removeSubrange(at...)
            case 3: bytes.insert(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            case 4: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + Int.random(in: 1...64, using: &rng))], at: at)
            case 5:
                let value = [UInt32.max, 0x7FFF_FFFF, 0x8000_0000, 0, 1, UInt32.random(in: 0...UInt32.max, using: &rng)].randomElement(using: &rng)!
                for k in 0..<4 where at + k < bytes.count { bytes[at + k] = UInt8(truncatingIfNeeded: value >> (24 - 8 * k)) }
            default: bytes = (0..<Int.random(in: 0...256, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    /// Feeds mutations of `seed` to `read` through a file; returns how many inputs were read
    /// without an error (to show the mutations do not all fail at the first check).
    static func fuzz(_ name: String, seed: [UInt8], fileName: String, _ read: (URL) throws -> Void) throws -> (inputs: Int, accepted: Int) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vae-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent(fileName)
        var rng = SplitMix64(state: name.utf8.reduce(20_261_125) { $0 &* 31 &+ UInt64($1) })
        let started = Date()
        var inputs = 0, accepted = 0
        while inputs < maxInputs && Date().timeIntervalSince(started) < maxSeconds {
            let bytes = mutate(seed, &rng)
            try Data(bytes).write(to: url)
            inputs += 1
            do {
                try read(url)
                accepted += 1
            } catch {
                // Refusing is the right answer for most of them.
            }
        }
        try Data(seed).write(to: url)
        try read(url)   // the unmutated seed must still read, or the fuzzing proved nothing
        return (inputs, accepted)
    }

    static let mnist = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/mnist")

    static func scratchFile(_ name: String, _ write: (URL) throws -> Void) throws -> [UInt8] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vae-fuzz-seed-\(UUID().uuidString)-\(name)")
        defer { try? FileManager.default.removeItem(at: url) }
        try write(url)
        return [UInt8](try Data(contentsOf: url))
    }

    @Test func idxImages() throws {
        // Three 28x28 images: the header then 3 * 784 bytes.
        let seed = IDXFile.header(shape: [3, 28, 28]) + (0..<3 * 784).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let result = try Self.fuzz("idx", seed: seed, fileName: "images-idx3-ubyte") { _ = try IDXFile.read($0, as: .images) }
        #expect(result.inputs >= 100)
    }

    @Test func gzipIDXLabels() throws {
        // The real 10,000 test labels, compressed: mutations hit the gzip layer and its checks.
        let seed = [UInt8](try Data(contentsOf: Self.mnist.appendingPathComponent("t10k-labels-idx1-ubyte.gz")))
        let result = try Self.fuzz("gzip", seed: seed, fileName: "labels-idx1-ubyte.gz") { _ = try IDXFile.read($0, as: .labels) }
        #expect(result.inputs >= 100)
    }

    @Test func png() throws {
        let image = GreyImage(width: 9, height: 5, pixels: (0..<45).map { Float($0) / 44 })
        let seed = try Self.scratchFile("seed.png") { try PNG.write(image, to: $0) }
        let result = try Self.fuzz("png", seed: seed, fileName: "image.png") { _ = try Image.read($0) }
        #expect(result.inputs >= 100)
    }

    @Test func pgm() throws {
        let seed = Array("P5\n4 3\n255\n".utf8) + (0..<12).map { UInt8($0 * 20) }
        let result = try Self.fuzz("pgm", seed: seed, fileName: "image.pgm") { _ = try Image.read($0) }
        #expect(result.inputs >= 100 && result.accepted > 0)
    }

    @Test func safetensors() throws {
        let a: [Float] = (0..<12).map { Float($0) * 0.5 }, b: [Float] = [1, -2, 3]
        let seed = try Self.scratchFile("seed.safetensors") { url in
            try a.withUnsafeBufferPointer { a in
                try b.withUnsafeBufferPointer { b in
                    try SafeTensors.write([("a", [3, 4], a), ("b", [3], b)], metadata: ["step": "1"], to: url)
                }
            }
        }
        // Without the checksum requirement, so that mutations of the data reach the tensor checks.
        let result = try Self.fuzz("safetensors", seed: seed, fileName: "x.safetensors") { url in
            let file = try SafeTensors.read(url, requireChecksum: false)
            for name in file.names { _ = try file.values(of: name) }
        }
        #expect(result.inputs >= 100 && result.accepted > 0)
    }
}

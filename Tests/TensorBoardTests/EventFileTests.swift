import Foundation
import TensorBoard
import Testing

@Suite struct CRC32CTests {
    /// The check value of the CRC catalogue and the test vectors of RFC 3720 (iSCSI), B.4, in
    /// the masked form TFRecord writes (rotated right by 15 bits, plus 0xa282ead8).
    @Test func knownValues() {
        func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }
        #expect(CRC32C.masked(Array("123456789".utf8)) == masked(0xE306_9283))
        #expect(CRC32C.masked([UInt8](repeating: 0, count: 32)) == masked(0x8A91_36AA))
        #expect(CRC32C.masked([UInt8](repeating: 0xFF, count: 32)) == masked(0x62A8_AB43))
        #expect(CRC32C.masked((0..<32).map { UInt8($0) }) == masked(0x46DD_794E))
    }
}

@Suite struct EventFileTests {
    func withDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("TensorBoardTests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    /// Each record's step, read back through the framing (checking both CRCs).
    func steps(_ url: URL) throws -> [Int] {
        let bytes = [UInt8](try Data(contentsOf: url))
        var offset = 0, steps: [Int] = []
        while offset < bytes.count {
            let length = Int(bytes[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            let payload = bytes[(offset + 12)..<(offset + 12 + length)]
            let crc = bytes[(offset + 12 + length)..<(offset + 16 + length)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(crc == CRC32C.masked(payload))
            steps.append(Self.step(payload))
            offset += 16 + length
        }
        #expect(offset == bytes.count)
        return steps
    }

    /// An event's step: after its wall time (field 1, 8 bytes), field 2 as a varint, or 0 if absent.
    static func step(_ event: ArraySlice<UInt8>) -> Int {
        let bytes = Array(event)
        #expect(bytes[0] == 0x09)
        guard bytes[9] == 0x10 else { return 0 }
        var value = 0, shift = 0, index = 10
        while true {
            value |= Int(bytes[index] & 0x7F) << shift
            if bytes[index] < 0x80 { return value }
            index += 1
            shift += 7
        }
    }

    @Test func aResumeCutsTheFileBackToItsStepAndAppends() throws {
        try withDirectory { directory in
            let file = try EventFile(directory: directory)
            for step in 1...10 { try file.scalars([("loss", Double(step))], step: step) }
            #expect(try steps(file.url) == [0] + Array(1...10))

            let resumed = try EventFile(directory: directory, resumingAt: 6)
            for step in 7...12 { try resumed.scalars([("loss", Double(step))], step: step) }
            #expect(try steps(resumed.url) == [0] + Array(1...12))
        }
    }

    @Test func aTornLastRecordIsCutOnResume() throws {
        try withDirectory { directory in
            let file = try EventFile(directory: directory)
            for step in 1...3 { try file.scalars([("loss", 1)], step: step) }
            let whole = try Data(contentsOf: file.url)
            try whole.dropLast(5).write(to: file.url)
            let resumed = try EventFile(directory: directory, resumingAt: 100)
            try resumed.scalars([("loss", 1)], step: 4)
            #expect(try steps(resumed.url) == [0, 1, 2, 4])
        }
    }

    @Test func resumingWithoutAFileStartsOne() throws {
        try withDirectory { directory in
            let file = try EventFile(directory: directory, resumingAt: 40)
            try file.scalars([("loss", 1)], step: 41)
            #expect(try steps(file.url) == [0, 41])
        }
    }

    @Test func notAPNGIsRefused() throws {
        try withDirectory { directory in
            let file = try EventFile(directory: directory)
            #expect(throws: TensorBoardError.self) { try file.image("x", png: Array(repeating: 0, count: 64), step: 1) }
        }
    }
}

import Checkpoint
import Foundation
import Testing
import TestSupport

/// Every kind of damaged or foreign file is refused with one line that says what is wrong.
@Suite struct DamageTests {
    /// A valid checkpoint's bytes and the length of its header.
    private func validFile(in directory: URL) throws -> (bytes: [UInt8], headerLength: Int) {
        let url = directory.appendingPathComponent("valid.safetensors")
        try write(sampleTensors, metadata: sampleMetadata, to: url)
        let bytes = try [UInt8](Data(contentsOf: url))
        return (bytes, Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16)
    }

    private func expectRead(_ url: URL, refusedWith fragment: String, requireChecksum: Bool = true,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        expectRefusal(url, fragment, sourceLocation: sourceLocation) {
            _ = try SafeTensors.read(url, requireChecksum: requireChecksum)
        }
    }

    @Test(arguments: [0, 1, 7])
    func tooShortForTheLength(keeping count: Int) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("short.safetensors")
            try Data(validFile(in: directory).bytes.prefix(count)).write(to: url)
            expectRead(url, refusedWith: "file is \(count) bytes, too short for a safetensors file")
        }
    }

    @Test func truncatedInTheHeader() throws {
        try withTemporaryDirectory { directory in
            let (bytes, headerLength) = try validFile(in: directory)
            let url = directory.appendingPathComponent("cut.safetensors")
            for count in [8, 9, 8 + headerLength / 2, 8 + headerLength - 1] {
                try Data(bytes.prefix(count)).write(to: url)
                expectRead(url, refusedWith: "header length \(headerLength) runs past the end of the file (\(count) bytes); the file is truncated")
            }
        }
    }

    @Test func truncatedInTheData() throws {
        try withTemporaryDirectory { directory in
            let (bytes, headerLength) = try validFile(in: directory)
            let url = directory.appendingPathComponent("cut.safetensors")
            for count in [8 + headerLength, 8 + headerLength + 5, bytes.count - 1] {
                try Data(bytes.prefix(count)).write(to: url)
                expectRead(url, refusedWith: "the file is truncated or damaged")
            }
        }
    }

    @Test func flippedDataByteFailsTheChecksum() throws {
        try withTemporaryDirectory { directory in
            let (bytes, headerLength) = try validFile(in: directory)
            let url = directory.appendingPathComponent("flipped.safetensors")
            for position in [8 + headerLength, bytes.count - 1] {
                var damaged = bytes
                damaged[position] ^= 0x01
                try Data(damaged).write(to: url)
                do {
                    _ = try SafeTensors.read(url, requireChecksum: false)
                    Issue.record("a flipped byte at \(position) went unnoticed")
                } catch let error as CheckpointError {
                    #expect(error.description == "\(url.path): data does not match its data_sha256: the file is damaged or truncated")
                }
            }
        }
    }

    @Test func badHeaderLength() throws {
        try withTemporaryDirectory { directory in
            let (bytes, headerLength) = try validFile(in: directory)
            let url = directory.appendingPathComponent("length.safetensors")

            try Data(littleEndian64(1 << 40) + bytes.dropFirst(8)).write(to: url)
            expectRead(url, refusedWith: "header length 1099511627776 is larger than 100000000 bytes; not a safetensors file")
            try Data(littleEndian64(UInt64.max) + bytes.dropFirst(8)).write(to: url)
            expectRead(url, refusedWith: "is larger than 100000000 bytes")

            try Data(littleEndian64(UInt64(bytes.count)) + bytes.dropFirst(8)).write(to: url)
            expectRead(url, refusedWith: "runs past the end of the file")

            // Too short: the JSON is cut off. Zero: there is no JSON at all.
            try Data(littleEndian64(UInt64(headerLength - 8)) + bytes.dropFirst(8)).write(to: url)
            expectRead(url, refusedWith: "header is not valid JSON")
            try Data(littleEndian64(0) + bytes.dropFirst(8)).write(to: url)
            expectRead(url, refusedWith: "header is not valid JSON")
        }
    }

    @Test func textFileIsRefused() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("notes.safetensors")
            try Data("just some text, not a checkpoint\n".utf8).write(to: url)
            expectRead(url, refusedWith: "header length")
        }
    }

    /// Hand-written headers over `data`, each with the fragment of the message it must produce.
    static let craftedCases: [(header: String, data: [UInt8], fragment: String)] = [
        ("{\"a\": ", [], "header is not valid JSON"),
        ("{\"a\" {}}", [], "header is not valid JSON"),
        ("{'a': 1}", [], "header is not valid JSON"),
        ("{\"a\":{}} x", [], "header is not valid JSON"),
        ("{\"a\":\"\u{01}\"}", [], "tensor a is not an object"),
        ("{\"a\":\"\\ud800\"}", [], "tensor a is not an object"),
        (String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), [], "header is not valid JSON"),
        ("[1, 2]", [], "header is not a JSON object"),
        ("\"text\"", [], "header is not a JSON object"),
        // JSONDecoder keeps one of two entries of a name: the other's bytes are left over.
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         floatBytes([1, 2]), "4 bytes of trailing data after the last tensor"),
        ("{\"a\":[1]}", floatBytes([1]), "tensor a is not an object"),
        ("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", floatBytes([1]), "tensor a has no dtype"),
        ("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", floatBytes([1]), "tensor a has no shape"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", floatBytes([1]), "tensor a has no data_offsets"),
        ("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", floatBytes([1]), "tensor a dtype is not a string"),
        ("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", [UInt8](repeating: 0, count: 8),
         "tensor a has dtype F64; only F32 tensors are supported"),
        ("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", floatBytes([1]),
         "tensor a has dtype BF16; only F32 tensors are supported"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", floatBytes([1]), "tensor a shape is not a list of non-negative integers"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", floatBytes([1]),
         "tensor a shape is not a list of non-negative integers"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", floatBytes([1]),
         "header is not valid JSON"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,4]}}", floatBytes([1]),
         "tensor a shape is not a list of non-negative integers"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", floatBytes([1]),
         "header is not valid JSON"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[3037000500,3037000500],\"data_offsets\":[0,4]}}", floatBytes([1]),
         "tensor a has shape [3037000500,3037000500] but data_offsets [0,4] hold 4 bytes"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", floatBytes([1]),
         "tensor a data_offsets is not [begin, end] with 0 <= begin <= end"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", floatBytes([1]),
         "tensor a data_offsets is not [begin, end] with 0 <= begin <= end"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", floatBytes([1]),
         "tensor a data_offsets is not [begin, end] with 0 <= begin <= end"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", floatBytes([1, 2]),
         "tensor a has shape [3] but data_offsets [0,8] hold 8 bytes"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", floatBytes([1, 2]),
         "tensor a data_offsets [0,16] run past the end of the data (8 bytes)"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         floatBytes([1, 2, 3]), "tensors a and b overlap"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         floatBytes([1]), "overlap"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         floatBytes([1, 2, 3]), "4 unused bytes in the data between tensor a and tensor b"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", floatBytes([1, 2]),
         "4 unused bytes in the data before tensor a"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floatBytes([1, 2]),
         "4 bytes of trailing data after the last tensor"),
        ("{}", floatBytes([1]), "4 bytes of trailing data after the last tensor"),
        ("{\"__metadata__\":[\"x\"]}", [], "__metadata__ is not an object"),
        ("{\"__metadata__\":{\"step\":468}}", [], "__metadata__ value of step is not a string"),
        ("{\"__metadata__\":{\"a\":\"b\"}}", [], "has no data_sha256; not a checkpoint written by vae"),
        ("{\"__metadata__\":{\"data_sha256\":\"0123\"}}", [], "data does not match its data_sha256: the file is damaged or truncated"),
    ]

    @Test(arguments: craftedCases.indices)
    func craftedHeaderIsRefused(_ index: Int) throws {
        let (header, data, fragment) = Self.craftedCases[index]
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("crafted.safetensors")
            try craft(header: header, data: data, at: url)
            expectRead(url, refusedWith: fragment)
        }
    }

    @Test func hashIsCheckedEvenWhenNotRequired() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("crafted.safetensors")
            try craft(header: "{\"__metadata__\":{\"data_sha256\":\"0123\"}}", data: [], at: url)
            expectRead(url, refusedWith: "data does not match its data_sha256", requireChecksum: false)
        }
    }

    @Test func nonexistentFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("missing.safetensors")
            expectRead(url, refusedWith: "cannot open: No such file or directory")
        }
    }

    @Test func directoryInsteadOfFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("folder.safetensors", isDirectory: true)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            expectRead(url, refusedWith: "is a directory, not a file")
        }
    }
}

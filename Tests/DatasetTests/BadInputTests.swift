import Dataset
import Foundation
import Testing
import TestSupport

// Each case breaks one thing in an otherwise valid split and checks that the one-line message
// names the file and says what is wrong.

@Test func missingFilesNameTheDirectoryAndTheFile() throws {
    try withTemporaryDirectory { directory in
        expectLoadFailure(from: directory, mentioning: [directory.path, "no train-images-idx3-ubyte or train-images-idx3-ubyte.gz"])
        try write(idxBytes(shape: [1, 28, 28]), to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: [directory.path, "train-labels-idx1-ubyte.gz"])
        let absent = directory.appendingPathComponent("absent")
        expectLoadFailure(from: absent, mentioning: [absent.path, "no such directory"])
    }
}

@Test func emptyFileIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write([], to: directory, as: "train-labels-idx1-ubyte")
        expectLoadFailure(from: directory, mentioning: [directory.appendingPathComponent("train-labels-idx1-ubyte").path + ": empty file"])
    }
}

@Test func wrongMagicIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write(Array("P5\n28 28\n255\n".utf8) + [UInt8](repeating: 0, count: 784),
                  to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte:", "not an IDX file", "50 35 0a 32", "expected 00 00 08 03"])
    }
}

@Test func wrongDataTypeIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write(idxBytes(typeCode: 0x0D, shape: [3, 28, 28]), to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte:", "data type 0x0d (float32), expected 0x08 (unsigned byte)"])
    }
}

@Test func wrongNumberOfDimensionsIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write(idxBytes(shape: [3, 784]), to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte:", "2 dimensions, expected 3"])

        try writeTrainingSplit(to: directory)
        try write(idxBytes(shape: [3, 1, 1]), to: directory, as: "train-labels-idx1-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-labels-idx1-ubyte:", "3 dimensions, expected 1"])
    }
}

@Test func truncatedHeaderIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write([0, 0, 8, 3, 0, 0, 0, 3, 0, 0], to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte:", "truncated header", "16 bytes", "holds 10"])
        try write([0, 0, 8], to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte:", "truncated header", "holds 3 bytes"])
    }
}

@Test func truncatedPayloadIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write(Array(idxBytes(shape: [3, 28, 28]).dropLast(352)), to: directory, as: "train-images-idx3-ubyte")
        expectLoadFailure(from: directory, mentioning: [
            "train-images-idx3-ubyte: truncated: header says 3 images of 28x28 (2352 bytes), the file holds 2000",
        ])
        // Inside gzip the message speaks of the decompressed data.
        try FileManager.default.removeItem(at: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try write(gzipStored(Array(idxBytes(shape: [3, 28, 28]).dropLast(1))), to: directory, as: "train-images-idx3-ubyte.gz")
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte.gz: truncated", "the decompressed data holds 2351"])
    }
}

@Test func trailingBytesAreRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write(idxBytes(shape: [3], payload: [1, 2, 3, 4, 5]), to: directory, as: "train-labels-idx1-ubyte")
        expectLoadFailure(from: directory, mentioning: ["train-labels-idx1-ubyte: trailing bytes: header says 3 labels (3 bytes), the file holds 5"])
    }
}

@Test func damagedGzipIsRefused() throws {
    let original = [UInt8](try Data(contentsOf: bundledData.appendingPathComponent("t10k-labels-idx1-ubyte.gz")))
    let images = bundledData.appendingPathComponent("t10k-images-idx3-ubyte.gz")
    var corrupted = original
    corrupted[original.count / 2] ^= 0xff
    var badChecksum = original
    badChecksum[original.count - 6] ^= 0x01  // inside the CRC-32 of the trailer
    let damages: [(bytes: [UInt8], fragments: [String])] = [
        (corrupted, ["damaged gzip"]),
        (badChecksum, ["damaged gzip", "incorrect data check"]),
        (Array(original.prefix(original.count - 100)), ["damaged gzip", "ends early"]),
        (original + [0, 1, 2], ["damaged gzip", "3 unexpected bytes after the compressed data"]),
    ]
    for damage in damages {
        try withTemporaryDirectory { directory in
            try FileManager.default.copyItem(at: images, to: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
            try write(damage.bytes, to: directory, as: "t10k-labels-idx1-ubyte.gz")
            expectLoadFailure(.test, from: directory, mentioning: ["t10k-labels-idx1-ubyte.gz: "] + damage.fragments)
        }
    }
}

@Test func countMismatchNamesBothFiles() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory, count: 3, labelCount: 2)
        expectLoadFailure(from: directory, mentioning: [
            directory.appendingPathComponent("train-images-idx3-ubyte").path + ": holds 3 images but",
            directory.appendingPathComponent("train-labels-idx1-ubyte").path + " holds 2 labels",
        ])
    }
}

@Test func wrongImageSizeIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory, side: 32)
        expectLoadFailure(from: directory, mentioning: ["train-images-idx3-ubyte: images are 32x32, expected 28x28"])
    }
}

@Test func checksumMismatchIsRefused() throws {
    try withTemporaryDirectory { directory in
        for name in ["SHA256SUMS", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(at: bundledData.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        #expect(try ImageSet.load(.test, from: directory).count == 10_000)

        // Still valid gzip with a valid IDX inside: only the checksum can tell.
        let labels = try ImageSet.load(.test, from: bundledData).labels
        try write(gzipStored(idxBytes(shape: [10_000], payload: labels.map { ($0 + 1) % 10 })),
                  to: directory, as: "t10k-labels-idx1-ubyte.gz")
        expectLoadFailure(.test, from: directory, mentioning: [
            directory.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path + ": does not match SHA256SUMS; the file is damaged",
            "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
        ])
    }
}

@Test func malformedChecksumListIsRefused() throws {
    try withTemporaryDirectory { directory in
        try writeTrainingSplit(to: directory)
        try write(Array("# comment\n1234  train-images-idx3-ubyte\n".utf8), to: directory, as: "SHA256SUMS")
        expectLoadFailure(from: directory, mentioning: [directory.appendingPathComponent("SHA256SUMS").path + ": line 2"])
    }
}

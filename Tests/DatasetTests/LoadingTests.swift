import Dataset
import Foundation
import Testing
import TestSupport

// Hex SHA-256 of the decompressed image file followed by the decompressed label file, computed
// independently with Python's gzip and hashlib.
private let trainFingerprint = "c5097fdd51cfdbe7695fd9df3612695696864b5c424f58d843ffdc5d335e9914"
private let testFingerprint = "18489308deedfe2f7bd3a11e599a597126f161d991b1ffcffb71642aa76f7f62"

@Test func loadsBundledTrainingSet() throws {
    let start = ContinuousClock.now
    let set = try ImageSet.load(.train, from: bundledData)
    let elapsed = ContinuousClock.now - start
    print("loaded the 60000 training images in \(elapsed)")

    #expect(set.split == .train)
    #expect(set.count == 60_000)
    #expect(set.height == 28 && set.width == 28)
    #expect(set.pixels.count == 60_000 * 784)
    #expect(set.labels.count == 60_000)
    #expect(Array(set.labels.prefix(10)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    #expect(set.fingerprint == trainFingerprint)
}

@Test func loadsBundledTestSet() throws {
    let set = try ImageSet.load(.test, from: bundledData)
    #expect(set.split == .test)
    #expect(set.count == 10_000)
    #expect(set.pixels.count == 10_000 * 784)
    #expect(Array(set.labels.prefix(10)) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    #expect(set.fingerprint == testFingerprint)
}

@Test func targetIsPixelsOver255() throws {
    let set = try ImageSet.load(.test, from: bundledData)
    var target = [Float](repeating: .nan, count: 784)
    let index = 1234
    target.withUnsafeMutableBufferPointer { set.target(index, into: $0.baseAddress!) }
    let stored = set.pixels[(index * 784)..<((index + 1) * 784)]
    #expect(zip(target, stored).allSatisfy { $0 == Float($1) / 255 })
    #expect(target.contains { $0 == 1 } && target.contains { $0 == 0 })
}

/// Raw copies of the test files, checked by a SHA256SUMS made of the published sums of the
/// decompressed files: proves the inflated bytes right and the raw path equivalent.
@Test func rawAndGzipFormsGiveTheSameSet() throws {
    let compressed = try ImageSet.load(.test, from: bundledData)
    try withTemporaryDirectory { directory in
        try write(IDXFile.header(shape: [compressed.count, 28, 28]) + compressed.pixels,
                  to: directory, as: "t10k-images-idx3-ubyte")
        try write(IDXFile.header(shape: [compressed.count]) + compressed.labels,
                  to: directory, as: "t10k-labels-idx1-ubyte")
        let published = try String(contentsOf: bundledData.appendingPathComponent("SHA256SUMS"), encoding: .utf8)
        let rawSums = published.split(separator: "\n")
            .filter { $0.hasPrefix("# uncompressed: ") && $0.contains("t10k") }
            .map { $0.dropFirst("# uncompressed: ".count) }
            .joined(separator: "\n")
        try write(Array(rawSums.utf8), to: directory, as: "SHA256SUMS")
        #expect(try ChecksumList.load(in: directory)?.digests.count == 2)

        let raw = try ImageSet.load(.test, from: directory)
        #expect(raw.count == compressed.count)
        #expect(raw.pixels == compressed.pixels)
        #expect(raw.labels == compressed.labels)
        #expect(raw.fingerprint == compressed.fingerprint)
    }
}

@Test func gzipIsRecognisedByContentNotName() throws {
    try withTemporaryDirectory { directory in
        let images = idxBytes(shape: [2, 28, 28])
        let labels = idxBytes(shape: [2], payload: [3, 8])
        // Compressed under the plain name, and plain under the .gz name.
        try write(gzipStored(images), to: directory, as: "train-images-idx3-ubyte")
        try write(labels, to: directory, as: "train-labels-idx1-ubyte.gz")
        let set = try ImageSet.load(.train, from: directory)
        #expect(set.pixels == Array(images.dropFirst(16)))
        #expect(set.labels == [3, 8])
        #expect(set.fingerprint == ImageSet(split: .train, pixels: set.pixels, labels: [3, 8]).fingerprint)
    }
}

@Test func concatenatedGzipMembersAreJoined() throws {
    try withTemporaryDirectory { directory in
        let images = idxBytes(shape: [70, 28, 28])
        try write(gzipStored(Array(images.prefix(1000))) + gzipStored(Array(images.dropFirst(1000))),
                  to: directory, as: "train-images-idx3-ubyte.gz")
        try write(idxBytes(shape: [70]), to: directory, as: "train-labels-idx1-ubyte")
        #expect(try ImageSet.load(.train, from: directory).pixels == Array(images.dropFirst(16)))
    }
}

@Test func fingerprintOfMemorySetMatchesFiles() throws {
    let loaded = try ImageSet.load(.test, from: bundledData)
    let made = ImageSet(split: .test, pixels: loaded.pixels, labels: loaded.labels)
    #expect(made.fingerprint == testFingerprint)
    #expect(made.count == 10_000)
}

private let fashionMNIST = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

@Test(.enabled(if: FileManager.default.fileExists(atPath: fashionMNIST.path), "Debian's dataset-fashion-mnist is not installed"))
func loadsFashionMNISTWithoutChecksums() throws {
    let train = try ImageSet.load(.train, from: fashionMNIST)
    let test = try ImageSet.load(.test, from: fashionMNIST)
    #expect(train.count == 60_000 && test.count == 10_000)
    #expect(train.fingerprint != trainFingerprint)
}

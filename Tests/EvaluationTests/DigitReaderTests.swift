import Checkpoint
import Dataset
import Evaluation
import Foundation
import Model
import Testing
import TestSupport

/// The bundled digit reader: its accuracy, its checksums, and `Scores`' readings against numpy.
@Suite struct DigitReaderTests {
    static let weights = bundledData.deletingLastPathComponent().appendingPathComponent(DigitReader.fileName)

    /// Loading checks the file against its `data_sha256` and that against the pinned digest.
    @Test func readsAtLeast99PercentOfTheRealTestDigitsRight() throws {
        let reader = try DigitReader(Self.weights)
        let test = try ImageSet.load(.test, from: bundledData)
        let (targets, _) = targetsAndInputs(of: test)
        let clock = ContinuousClock()
        var read: [UInt8] = []
        let elapsed = clock.measure { read = reader.read(targets, count: test.count) }
        let right = zip(read, test.labels).filter { $0 == $1 }.count
        print("digit reader: \(right) of \(test.count) real test digits read right, in \(elapsed)")
        #expect(right >= 9_900, "\(right) of \(test.count)")
    }

    @Test func aDamagedMissingOrOtherFileIsRefusedWithOneLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("DigitReaderTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func refusal(_ url: URL) -> String {
            do {
                _ = try DigitReader(url)
                return "loaded"
            } catch {
                return String(describing: error)
            }
        }
        let missing = folder.appendingPathComponent("none.safetensors")
        #expect(refusal(missing).hasPrefix(missing.path))

        var bytes = try [UInt8](Data(contentsOf: Self.weights))
        bytes[bytes.count - 100] ^= 0x10
        let damaged = folder.appendingPathComponent("damaged.safetensors")
        try Data(bytes).write(to: damaged)
        #expect(refusal(damaged).contains("does not match its data_sha256"), "\(refusal(damaged))")

        // Whole and sound, but other weights: not the reader the figures are of.
        let file = try SafeTensors.read(Self.weights, requireChecksum: true)
        var tensors: [(String, [Int], [Float])] = try file.names.map { ($0, file.shape(of: $0)!, try file.values(of: $0)) }
        tensors[0].2[0] += 0.25
        let other = folder.appendingPathComponent("other.safetensors")
        try withTensorViews(tensors) { try SafeTensors.write($0, metadata: [:], to: other) }
        #expect(refusal(other).contains("is not the digit reader"), "\(refusal(other))")
        for url in [missing, damaged, other] { #expect(!refusal(url).contains("\n")) }
    }

    /// `Scores` with random model weights: every source's read-right share and most frequent
    /// misreading recounted by numpy's reader from the same images.
    @Test(.enabled(if: pythonHasNumpy)) func readingsMatchANumpyRecount() throws {
        let count = 300
        let model = VAE(shape: .seed)
        var random = SplitMix64(state: 21)
        let parameters = (0..<model.layout.count).map { _ in Float.random(in: -0.1...0.1, using: &random) }
        let weights = InferenceWeights(model: model, parameters: parameters, klWeight: 1)
        let test = try ImageSet.load(.test, from: bundledData)
        let scores = Scores(weights, images: test, count: count, reader: try DigitReader(Self.weights))

        let (targets, inputs) = targetsAndInputs(of: test, count: count)
        let sources = [Inference.reconstruct(weights, inputs: inputs, count: count),
                       upscaled(inputs, bicubic: false), upscaled(inputs, bicubic: true), targets]
        let labels = test.labels[0..<count].map(Float.init)
        let script = numpyDigitReader + """

        import sys
        labels = np.fromfile(sys.argv[1])
        for path in sys.argv[2:]:
            digits = read(\(pythonString(Self.weights.path)), np.fromfile(path))
            wrong = digits != labels
            pairs = [(-int(np.sum(wrong & (labels == d) & (digits == r))), d, r) for d in range(10) for r in range(10) if d != r]
            top = min(pairs)
            print(np.mean(~wrong), top[1], top[2], -top[0])
        """
        let numbers = try pythonNumbers(script, arrays: [labels] + sources)
        let swift: [(Double?, [Misreading]?)] = [(scores.readRight, scores.mostMisread),
                                                 (scores.bilinear.readRight, scores.bilinear.mostMisread),
                                                 (scores.bicubic.readRight, scores.bicubic.mostMisread),
                                                 (scores.originals?.readRight, scores.originals?.mostMisread)]
        #expect(numbers.count == 16)
        for (index, (readRight, misread)) in swift.enumerated() {
            let row = numbers[(4 * index)..<(4 * index + 4)].map { $0 }
            #expect(readRight == row[0], "source \(index): read right \(String(describing: readRight)) against numpy's \(row[0])")
            if let first = misread?.first {
                #expect([Double(first.digit), Double(first.readAs), Double(first.images)] == Array(row[1...]),
                        "source \(index): most misread \(first) against numpy's \(row[1...])")
            }
        }
        // The model's random weights make nearly every upscale unreadable; the originals are not.
        #expect((scores.readRight ?? 1) < 0.5 && (scores.originals?.readRight ?? 0) > 0.97)
    }
}

/// A Python string literal of `text` (a path).
private func pythonString(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

private func withTensorViews(_ tensors: [(String, [Int], [Float])], _ body: ([TensorView]) throws -> Void) throws {
    func nest(_ index: Int, _ views: [TensorView]) throws {
        guard index < tensors.count else { return try body(views) }
        try tensors[index].2.withUnsafeBufferPointer { try nest(index + 1, views + [(tensors[index].0, tensors[index].1, $0)]) }
    }
    try nest(0, [])
}

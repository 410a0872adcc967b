import Dataset
import Foundation
import Testing

/// TensorFlow's own 8x8 inputs for training images 0..9 (see the fixture's "what").
private struct DownscaleFixture: Decodable {
    let images: [String: [Double]]
}

@Test func lowResolutionMatchesTensorFlow() throws {
    let url = try #require(Bundle.module.url(forResource: "tf-downscale-train-0-9", withExtension: "json", subdirectory: "Fixtures"))
    let fixture = try JSONDecoder().decode(DownscaleFixture.self, from: Data(contentsOf: url))
    let set = try ImageSet.load(.train, from: bundledData)
    #expect(fixture.images.count == 10)

    var input = [Float](repeating: .nan, count: 64)
    var worst = 0.0
    for index in 0..<10 {
        let expected = try #require(fixture.images[String(index)])
        try #require(expected.count == 64)
        input.withUnsafeMutableBufferPointer { set.lowResolution(index, into: $0.baseAddress!) }
        for (ours, theirs) in zip(input, expected) {
            worst = max(worst, abs(Double(ours) - theirs))
        }
    }
    #expect(worst <= 1e-6, "largest difference from TensorFlow: \(worst)")
}

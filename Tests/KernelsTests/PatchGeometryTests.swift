import Kernels
import Testing

/// `gather` and `scatterAdd` are each other's adjoints (<gather(x), p> == <x, scatter(p)>), and
/// `gather` reads a 3x3 convolution's window, TensorFlow's "same" padding included.
struct PatchGeometryTests {
    @Test(arguments: [
        PatchGeometry(small: (4, 4), large: (8, 8), channels: 1, stride: 2, pad: 0),
        PatchGeometry(small: (7, 7), large: (14, 14), channels: 3, stride: 2, pad: 0),
        PatchGeometry(small: (28, 28), large: (28, 28), channels: 2, stride: 1, pad: 1),
    ])
    func gatherAndScatterAreAdjoint(g: PatchGeometry) {
        let x = (0..<g.largeCount).map { Float(($0 * 7919) % 23) - 11 }
        let p = (0..<(g.smallPositions * g.patchWidth)).map { Float(($0 * 104_729) % 19) - 9 }
        var gathered = [Float](repeating: .nan, count: p.count)
        g.gather(x, into: &gathered)
        var scattered = [Float](repeating: 0, count: x.count)
        g.scatterAdd(p, into: &scattered)
        let left = zip(gathered, p).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let right = zip(x, scattered).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        #expect(left == right)
    }

    @Test func stride2SamePaddingPadsAfterOnly() {
        // 8x8 -> 4x4: output (3, 3)'s window covers rows and columns 6, 7 and the padding 8.
        let g = PatchGeometry(small: (4, 4), large: (8, 8), channels: 1, stride: 2, pad: 0)
        let x = (0..<64).map(Float.init)
        var patches = [Float](repeating: .nan, count: 16 * 9)
        g.gather(x, into: &patches)
        #expect(Array(patches[0..<9]) == [0, 1, 2, 8, 9, 10, 16, 17, 18])
        #expect(Array(patches[(15 * 9)..<(16 * 9)]) == [54, 55, 0, 62, 63, 0, 0, 0, 0])
    }
}

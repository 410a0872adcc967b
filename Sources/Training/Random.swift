import Foundation

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): a counter-based
/// generator, so every random number is a pure function of (seed, what it is for, where it is
/// used). Nothing depends on the order numbers are drawn in, the rank, or the world size.
public struct Philox: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// What a number is for; part of the counter so that the streams never overlap.
    public enum Stream: UInt32, Sendable {
        case initialWeights = 1
        case shuffle = 2
        case noise = 3
    }

    /// Four 32-bit words for counter (stream, a, b, c).
    public func block(_ stream: Stream, _ a: UInt64, _ b: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: a), c1 = UInt32(truncatingIfNeeded: a >> 32)
        var c2 = b, c3 = stream.rawValue
        var k0 = UInt32(truncatingIfNeeded: seed), k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for round in 0..<10 {
            if round > 0 { k0 &+= 0x9E37_79B9; k1 &+= 0xBB67_AE85 }
            let p0 = UInt64(0xD251_1F53) * UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) * UInt64(c2)
            (c0, c1, c2, c3) = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: p1),
                                UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p0))
        }
        return (c0, c1, c2, c3)
    }

    /// A uniform float in [0, 1) from 24 random bits.
    @inline(__always)
    static func unit(_ x: UInt32) -> Double { Double(x >> 8) * 0x1p-24 }

    /// Uniform in [0, 1) for element `index` of item `item`.
    public func uniform(_ stream: Stream, item: UInt32, index: UInt64) -> Double {
        Philox.unit(block(stream, index, item).0)
    }

    /// An integer uniform in 0..<bound for counter (stream, index, item).
    public func integer(below bound: Int, _ stream: Stream, item: UInt32, index: UInt64) -> Int {
        let (x0, x1, _, _) = block(stream, index, item)
        let r = UInt64(x0) | UInt64(x1) << 32
        return Int(r.multipliedFullWidth(by: UInt64(bound)).high)   // bias below 2^-40: negligible
    }

    /// `count` standard normals for (stream, item, index), by Box-Muller on successive blocks.
    public func normals(_ stream: Stream, item: UInt32, index: UInt64, count: Int, into out: UnsafeMutablePointer<Float>) {
        var produced = 0
        var blockIndex: UInt32 = 0
        while produced < count {
            // The block's slot within the counter: item in the high bits, block in the low.
            let (x0, x1, x2, x3) = block(stream, index, item &* 1024 &+ blockIndex)
            for (a, b) in [(x0, x1), (x2, x3)] where produced < count {
                let radius = (-2 * log(1 - Philox.unit(a))).squareRoot()     // 1 - u is in (0, 1]
                let angle = 2 * Double.pi * Philox.unit(b)
                out[produced] = Float(radius * cos(angle))
                produced += 1
                if produced < count {
                    out[produced] = Float(radius * sin(angle))
                    produced += 1
                }
            }
            blockIndex += 1
        }
    }

    /// The permutation of 0..<count for an epoch (Fisher-Yates, each swap its own counter).
    public func permutation(count: Int, epoch: Int) -> [Int32] {
        var order = (0..<count).map { Int32($0) }
        guard count > 1 else { return order }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = integer(below: i + 1, .shuffle, item: UInt32(epoch), index: UInt64(i))
            order.swapAt(i, j)
        }
        return order
    }
}

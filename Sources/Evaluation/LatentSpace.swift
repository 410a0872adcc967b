import Dataset
import Model

/// The encodings (z_mean) of a split's first images: what pictures of the latent space show.
public struct LatentEncodings: Sendable {
    public let latent: Int
    public let count: Int
    /// The images' 8x8 inputs, one after another.
    public let inputs: [Float]
    /// `count` rows of `latent` values.
    public let means: [Float]

    public init(_ weights: InferenceWeights, images: ImageSet, count: Int) {
        var inputs = [Float](repeating: 0, count: count * VAE.inputPixels)
        inputs.withUnsafeMutableBufferPointer { x in
            for i in 0..<count { images.lowResolution(i, into: x.baseAddress! + i * VAE.inputPixels) }
        }
        latent = weights.model.latentDimension
        self.count = count
        self.inputs = inputs
        means = Inference.encode(weights, inputs: inputs, count: count)
    }

    /// Every image's value along dimension `j`.
    public func values(along j: Int) -> [Float] {
        (0..<count).map { means[$0 * latent + j] }
    }

    /// The two dimensions whose encodings vary most, in index order (for a 2-D latent, both):
    /// a wider latent leaves most dimensions near 0, and plotting those would show nothing.
    public func mostSpreadDimensions() -> (Int, Int?) {
        guard latent > 1 else { return (0, nil) }
        let variances = (0..<latent).map { j -> Double in
            let values = values(along: j).map(Double.init)
            let mean = values.reduce(0, +) / Double(max(count, 1))
            return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        }
        let top = variances.indices.sorted { variances[$0] > variances[$1] }.prefix(2).sorted()
        return (top[0], top[1])
    }
}

/// The plane of a 2-D latent.
public enum LatentPlane {
    /// Decodings of a `side` x `side` grid over the plane, z from -`extent` to `extent` on each
    /// axis, row by row from the top: z[1] falls from +extent to -extent; z[0] rises left to right.
    public static func decodings(_ weights: InferenceWeights, side n: Int, extent: Double) -> [Float] {
        var grid = [Float](repeating: 0, count: n * n * 2)
        for row in 0..<n {
            for column in 0..<n {
                let position = (row * n + column) * 2
                grid[position] = Float(-extent + 2 * extent * Double(column) / Double(n - 1))
                grid[position + 1] = Float(extent - 2 * extent * Double(row) / Double(n - 1))
            }
        }
        return Inference.decode(weights, latents: grid, count: n * n)
    }
}

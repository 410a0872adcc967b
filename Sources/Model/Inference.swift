
/// Forward passes of a trained model, in batches of a fixed workspace.
public enum Inference {
    /// Images per forward pass: large enough for efficient products, small enough that the
    /// workspace (about 0.6 MB an image) stays a few tens of MB.
    static let batch = 32

    /// Runs `body` over `count` items in batches, with one workspace for all of them.
    private static func batches(_ weights: InferenceWeights, count: Int,
                                _ body: (UnsafePointer<Float>, _ start: Int, _ n: Int, Workspace) -> Void) {
        guard count > 0 else { return }
        let workspace = Workspace(capacity: min(batch, count), shape: weights.model.shape)
        weights.parameters.withUnsafeBufferPointer { p in
            var start = 0
            while start < count {
                let n = min(batch, count - start)
                body(p.baseAddress!, start, n, workspace)
                start += n
            }
        }
    }

    /// The z_mean of each 8x8 input: [count, latent].
    public static func encode(_ weights: InferenceWeights, inputs: [Float], count: Int) -> [Float] {
        let model = weights.model, latent = model.latentDimension
        var means = [Float](repeating: 0, count: count * latent)
        batches(weights, count: count) { p, start, n, workspace in
            inputs.withUnsafeBufferPointer { x in
                model.encode(parameters: p, inputs: x.baseAddress! + start * VAE.inputPixels, batch: n, workspace: workspace)
            }
            means.withUnsafeMutableBufferPointer { m in
                (m.baseAddress! + start * latent).update(from: workspace.mean, count: n * latent)
            }
        }
        return means
    }

    /// Decodes latent points [count, latent] into pixels [count, 784] in [0, 1].
    public static func decode(_ weights: InferenceWeights, latents: [Float], count: Int) -> [Float] {
        let model = weights.model, latent = model.latentDimension
        var out = [Float](repeating: 0, count: count * VAE.outputPixels)
        batches(weights, count: count) { p, start, n, workspace in
            latents.withUnsafeBufferPointer { z in
                out.withUnsafeMutableBufferPointer { y in
                    model.decode(parameters: p, z: z.baseAddress! + start * latent, batch: n, workspace: workspace,
                                 into: y.baseAddress! + start * VAE.outputPixels)
                }
            }
        }
        return out
    }

    /// The model's upscaling: each 8x8 input's z_mean decoded, [count, 784] in [0, 1].
    public static func reconstruct(_ weights: InferenceWeights, inputs: [Float], count: Int) -> [Float] {
        decode(weights, latents: encode(weights, inputs: inputs, count: count), count: count)
    }

    /// Decodes each input's z_mean and scores it against its target: the pixels [count, 784]
    /// and the summed losses.
    public static func evaluate(_ weights: InferenceWeights, inputs: [Float], targets: [Float], count: Int)
        -> (reconstruction: [Float], sums: VAE.LossSums) {
        let model = weights.model
        var out = [Float](repeating: 0, count: count * VAE.outputPixels)
        var sums = VAE.LossSums()
        batches(weights, count: count) { p, start, n, workspace in
            inputs.withUnsafeBufferPointer { x in
                targets.withUnsafeBufferPointer { y in
                    out.withUnsafeMutableBufferPointer { o in
                        let batch = model.evaluate(parameters: p, inputs: x.baseAddress! + start * VAE.inputPixels,
                                                   targets: y.baseAddress! + start * VAE.outputPixels, batch: n,
                                                   workspace: workspace, reconstruction: o.baseAddress! + start * VAE.outputPixels)
                        sums.reconstruction += batch.reconstruction
                        sums.kl += batch.kl
                    }
                }
            }
        }
        return (out, sums)
    }

    /// `steps` decodings along the straight line between two inputs' encodings, the first and
    /// last being the two inputs' own reconstructions (as the write-up's morph does).
    public static func morph(_ weights: InferenceWeights, from: [Float], to: [Float], steps: Int) -> [Float] {
        precondition(steps >= 2 && from.count == VAE.inputPixels && to.count == VAE.inputPixels)
        let ends = encode(weights, inputs: from + to, count: 2)
        let latent = weights.model.latentDimension
        var line = [Float](repeating: 0, count: steps * latent)
        for step in 0..<steps {
            let t = Float(step) / Float(steps - 1)
            for j in 0..<latent {
                line[step * latent + j] = (1 - t) * ends[j] + t * ends[latent + j]
            }
        }
        return decode(weights, latents: line, count: steps)
    }
}

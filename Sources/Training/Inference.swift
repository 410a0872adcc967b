import Model

/// Forward passes of a trained model, in batches of a fixed workspace.
public enum Inference {
    static let batch = 256

    /// Decodes the z_mean of each 8x8 input: the model's upscaling, [count, 784] in [0, 1].
    public static func reconstruct(_ weights: InferenceWeights, inputs: [Float], count: Int) -> [Float] {
        let model = weights.model
        let workspace = Workspace(capacity: min(batch, count), latentDimension: model.latentDimension)
        var out = [Float](repeating: 0, count: count * VAE.outputPixels)
        weights.parameters.withUnsafeBufferPointer { p in
            inputs.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    var start = 0
                    while start < count {
                        let n = min(batch, count - start)
                        model.encode(parameters: p.baseAddress!, inputs: x.baseAddress! + start * VAE.inputPixels,
                                     batch: n, workspace: workspace)
                        model.decode(parameters: p.baseAddress!, z: workspace.mean, batch: n, workspace: workspace,
                                     into: y.baseAddress! + start * VAE.outputPixels)
                        start += n
                    }
                }
            }
        }
        return out
    }
}

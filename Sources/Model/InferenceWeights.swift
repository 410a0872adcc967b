import Checkpoint
import Foundation

/// Model weights for the inference commands: from a training checkpoint or from any
/// safetensors file holding the Keras-named tensors (e.g. exported from Keras), so trained
/// weights can be brought in. The latent size is read off the tensors themselves.
public struct InferenceWeights: Sendable {
    public let model: VAE
    public let parameters: [Float]

    /// Weights already in memory, e.g. a trainer's.
    public init(model: VAE, parameters: [Float]) {
        precondition(parameters.count == model.layout.count)
        self.model = model
        self.parameters = parameters
    }

    /// Weights from a checkpoint, a run directory or any safetensors file (see `CheckpointLocation`).
    public init(_ url: URL, warn: (String) -> Void) throws {
        try self.init(try CheckpointLocation.read(url, warn: warn))
    }

    /// Weights from a file already read.
    public init(_ file: SafeTensorsFile) throws {
        guard let meanShape = file.shape(of: "encoder.z_mean.kernel") else {
            throw CheckpointError(file.url, "holds no tensor encoder.z_mean.kernel: not weights of this model")
        }
        guard meanShape.count == 2, meanShape[0] == 16, meanShape[1] >= 1, meanShape[1] <= 4096 else {
            throw CheckpointError(file.url, "encoder.z_mean.kernel has shape \(meanShape), expected [16, latent]")
        }
        let model = VAE(latentDimension: meanShape[1])
        var flat = [Float](repeating: 0, count: model.layout.count)
        try flat.withUnsafeMutableBufferPointer { flat in
            for spec in model.layout.specs {
                try file.copy(spec.name, expectedShape: spec.shape, into: UnsafeMutableBufferPointer(rebasing: flat[spec.range]))
            }
        }
        self.model = model
        parameters = flat
    }
}

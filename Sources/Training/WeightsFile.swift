import Checkpoint
import Foundation
import Model

/// Weights from a training checkpoint or from any safetensors file holding the Keras-named
/// tensors (e.g. exported from Keras), so trained weights can be brought in. The latent size is
/// read off the tensors themselves.
extension InferenceWeights {
    /// Weights from a checkpoint, a run directory or any safetensors file (see `CheckpointLocation`).
    public init(_ url: URL, warn: (String) -> Void) throws {
        try self.init(try CheckpointLocation.read(url, warn: warn))
    }

    /// Weights from a file already read.
    public init(_ file: SafeTensorsFile) throws {
        let name = "encoder.z_mean.kernel", width = VAE.hiddenWidth
        guard let meanShape = file.shape(of: name) else {
            throw CheckpointError(file.url, "holds no tensor \(name): not weights of this model")
        }
        guard meanShape.count == 2, meanShape[0] == width,
              TrainingConfiguration.setting("latent-dim").accepts("\(meanShape[1])") else {
            throw CheckpointError(file.url, "\(name) has shape \(meanShape), expected [\(width), latent]")
        }
        let model = VAE(latentDimension: meanShape[1])
        var flat = [Float](repeating: 0, count: model.layout.count)
        try flat.withUnsafeMutableBufferPointer { flat in
            for spec in model.layout.specs {
                try file.copy(spec.name, expectedShape: spec.shape, into: UnsafeMutableBufferPointer(rebasing: flat[spec.range]))
            }
        }
        // A training checkpoint says what loss it minimised; weights from elsewhere, the seed's.
        let trained = try? CheckpointMetadata(file.metadata)
        self.init(model: model, parameters: flat, klWeight: trained?.settings.klWeight ?? TrainingConfiguration().klWeight)
    }
}

import Checkpoint
import Foundation
import Model

/// Weights from a training checkpoint or from any safetensors file holding the Keras-named
/// tensors (e.g. exported from Keras), so trained weights can be brought in. The model's shape is
/// read off the tensors themselves.
extension InferenceWeights {
    /// Weights from a checkpoint, a run directory or any safetensors file (see `CheckpointLocation`).
    public init(_ url: URL, warn: (String) -> Void) throws {
        try self.init(try CheckpointLocation.read(url, warn: warn))
    }

    /// Weights from a file already read.
    public init(_ file: SafeTensorsFile) throws {
        // The shape is read off the latent head's kernel, [encoder width, latent].
        let name = "encoder.z_mean.kernel"
        guard let meanShape = file.shape(of: name) else {
            throw CheckpointError(file.url, "holds no tensor \(name): not weights of this model")
        }
        guard meanShape.count == 2,
              TrainingConfiguration.setting("encoder-width").accepts("\(meanShape[0])"),
              TrainingConfiguration.setting("latent-dim").accepts("\(meanShape[1])") else {
            throw CheckpointError(file.url, "\(name) has shape \(meanShape), expected [encoder width, latent]")
        }
        let model = VAE(shape: ModelShape(latentDimension: meanShape[1], encoderWidth: meanShape[0]))
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

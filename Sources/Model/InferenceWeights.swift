/// Model weights for the inference commands: a trainer's, or read from a file (see
/// `InferenceWeights.init(_ file:)` in Training, where files are read).
public struct InferenceWeights: Sendable {
    public let model: VAE
    public let parameters: [Float]
    /// The weight of the KL term in the loss these weights were trained to minimise (1, the
    /// seed's, for weights from elsewhere): a test loss is the same loss.
    public let klWeight: Float

    public init(model: VAE, parameters: [Float], klWeight: Float) {
        precondition(parameters.count == model.layout.count)
        self.model = model
        self.parameters = parameters
        self.klWeight = klWeight
    }
}

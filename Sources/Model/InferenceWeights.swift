/// Model weights for the inference commands: a trainer's, or read from a file (see
/// `InferenceWeights.init(_ file:)` in Training, where files are read).
public struct InferenceWeights: Sendable {
    public let model: VAE
    public let parameters: [Float]

    public init(model: VAE, parameters: [Float]) {
        precondition(parameters.count == model.layout.count)
        self.model = model
        self.parameters = parameters
    }
}

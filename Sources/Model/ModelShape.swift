/// What a model of this architecture may vary: the latent's size and the width of the encoder's
/// dense layer. Every other width is `VAE`'s. The seed's Keras example is `.seed`; checkpoints,
/// Keras interop and the ONNX export carry any shape.
public struct ModelShape: Sendable, Equatable, CustomStringConvertible {
    public var latentDimension: Int
    /// The encoder's one hidden layer (Dense, relu) between the convolutions and the latent
    /// heads: everything the decoder learns of an input passes through it.
    public var encoderWidth: Int

    public init(latentDimension: Int, encoderWidth: Int) {
        precondition(latentDimension > 0 && encoderWidth > 0)
        self.latentDimension = latentDimension
        self.encoderWidth = encoderWidth
    }

    /// "latent 16, encoder width 256", as the commands print it.
    public var description: String { "latent \(latentDimension), encoder width \(encoderWidth)" }

    /// The seed's: a 2-D latent behind 16 hidden units.
    public static let seed = ModelShape(latentDimension: 2, encoderWidth: 16)
}

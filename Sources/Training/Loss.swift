/// The two terms of the loss: summed with each step's gradients, and over the test images.
enum LossTerm: Int, CaseIterable {
    case reconstruction, kl
}

extension TrainingConfiguration {
    /// The loss being minimised: the seed's `reconstruction + kl` when the KL weight is 1.
    func objective(_ reconstruction: Double, _ kl: Double) -> Double {
        reconstruction + Double(klWeight) * kl
    }
}

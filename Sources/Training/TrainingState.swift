import Model

/// Where a run is: the parameters, the optimiser, and the position in the schedule. This is
/// exactly what a checkpoint holds, so a resumed run continues bit for bit.
public struct TrainingState: Sendable {
    public var parameters: [Float]
    public var adam: Adam
    /// Epochs completed.
    public var epoch: Int
    /// Steps done inside the epoch in progress (0 at an epoch boundary).
    public var stepInEpoch: Int
    /// Running sums of the epoch in progress, for its metrics (Keras reports the mean of the
    /// batch losses over the epoch).
    public var epochTotals: EpochTotals

    public var step: Int { adam.step }

    /// One optimiser update, at the rate `schedule` gives this step.
    public mutating func applyGradients(_ gradients: UnsafePointer<Float>, schedule: LearningRateSchedule) {
        adam.update(&parameters, gradients: gradients, schedule: schedule)
    }

    public init(layout: ParameterLayout, seed: UInt64, adam hyperparameters: AdamHyperparameters) {
        parameters = layout.initialParameters(seed: seed)
        adam = Adam(count: layout.count, hyperparameters: hyperparameters)
        epoch = 0
        stepInEpoch = 0
        epochTotals = EpochTotals()
    }

    public init(parameters: [Float], adam: Adam, epoch: Int, stepInEpoch: Int, epochTotals: EpochTotals) {
        precondition(parameters.count == adam.m.count, "Adam's moments are not laid out like the parameters")
        self.parameters = parameters
        self.adam = adam
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.epochTotals = epochTotals
    }
}

/// Sums of per-step mean losses over the steps of an epoch so far.
public struct EpochTotals: Sendable, Equatable {
    public var reconstruction: Double = 0
    public var kl: Double = 0
    public var steps: Int = 0
    public init() {}
    public init(reconstruction: Double, kl: Double, steps: Int) {
        self.reconstruction = reconstruction; self.kl = kl; self.steps = steps
    }
}

import Foundation
import Kernels

/// Adam's hyperparameters, Keras 3's defaults.
public struct AdamHyperparameters: Sendable, Equatable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7
    public init(learningRate: Float = 1e-3) { self.learningRate = learningRate }
}

/// How the learning rate moves over a run, as a share of Adam's: constant (the seed's), or
/// Keras's `CosineDecay` (alpha 0): half a cosine from the full rate down to 0 over `steps`
/// updates, so the last updates settle what the first ones found.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    case cosineDecay(steps: Int)

    /// The share for the update after `step` updates (Keras's `iterations`), the same on every
    /// rank and host: computed in double precision, then rounded.
    public func share(afterUpdates step: Int) -> Float {
        switch self {
        case .constant:
            return 1
        case .cosineDecay(let steps):
            let done = Double(min(step, steps)) / Double(steps)
            return Float(0.5 * (1 + cos(Double.pi * done)))
        }
    }
}

/// Adam exactly as Keras 3 computes it (float32, its update order and its way of writing the
/// moment updates), so that parameters track TensorFlow's step for step.
public struct Adam: Sendable {
    public let hyperparameters: AdamHyperparameters
    /// First and second moments, laid out like the parameters.
    public private(set) var m: [Float]
    public private(set) var v: [Float]
    /// Updates applied so far (Keras's `iterations`).
    public private(set) var step: Int

    /// A fresh optimiser for `count` parameters.
    public init(count: Int, hyperparameters: AdamHyperparameters) {
        self.init(hyperparameters: hyperparameters, m: [Float](repeating: 0, count: count),
                  v: [Float](repeating: 0, count: count), step: 0)
    }

    /// An optimiser part-way through, e.g. read from a checkpoint.
    public init(hyperparameters: AdamHyperparameters, m: [Float], v: [Float], step: Int) {
        precondition(m.count == v.count && step >= 0)
        self.hyperparameters = hyperparameters
        self.m = m
        self.v = v
        self.step = step
    }

    /// One update of `parameters` (as many as the moments) by `gradients` (as many), at the
    /// learning rate `schedule` gives this step.
    public mutating func update(_ parameters: inout [Float], gradients g: UnsafePointer<Float>,
                                schedule: LearningRateSchedule = .constant) {
        precondition(parameters.count == m.count)
        let h = hyperparameters
        let t = Float(step + 1)
        let alpha = h.learningRate * schedule.share(afterUpdates: step) * (1 - powf(h.beta2, t)).squareRoot() / (1 - powf(h.beta1, t))
        let oneMinusBeta1 = 1 - h.beta1, oneMinusBeta2 = 1 - h.beta2, epsilon = h.epsilon
        parameters.withUnsafeMutableBufferPointer { parameters in
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    AdamUpdate.apply(parameters: parameters.baseAddress!, m: m.baseAddress!, v: v.baseAddress!, gradients: g,
                                     count: m.count, alpha: alpha, oneMinusBeta1: oneMinusBeta1,
                                     oneMinusBeta2: oneMinusBeta2, epsilon: epsilon)
                }
            }
        }
        step += 1
    }
}

extension Adam {
    /// The optimiser of a resumed run, with the learning rate the user now asks for.
    public init(resuming saved: Adam, learningRate: Float) {
        var hyperparameters = saved.hyperparameters
        hyperparameters.learningRate = learningRate
        self.init(hyperparameters: hyperparameters, m: saved.m, v: saved.v, step: saved.step)
    }
}

import Checkpoint
import Foundation
import Kernels
import Model
import Testing
import TestSupport

/// The model against TensorFlow's own numbers (`keras-reference.safetensors`): the same weights,
/// four test images and a fixed eps give Keras's forward values, losses and gradients.
struct KerasReferenceTests {
    let reference: SafeTensorsFile
    let model = VAE(shape: .seed)
    let batch = 4

    init() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/keras-reference", withExtension: "safetensors"))
        reference = try SafeTensors.read(url, requireChecksum: false)
    }

    func parameters(prefix: String = "") throws -> [Float] {
        var flat = [Float](repeating: .nan, count: model.layout.count)
        for spec in model.layout.specs {
            let values = try reference.values(of: prefix + spec.name)
            #expect(reference.shape(of: prefix + spec.name) == spec.shape, "\(spec.name)")
            flat.replaceSubrange(spec.range, with: values)
        }
        return flat
    }

    /// Largest |a - b| relative to the tensor's largest |b|: float32 sums of many terms are
    /// accurate relative to the size of their terms, not to a result that cancels to near zero.
    func relativeError(_ a: ArraySlice<Float>, _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        let scale = max(b.map(abs).max() ?? 0, .leastNormalMagnitude)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    /// With every kernel build this CPU runs.
    @Test(arguments: KernelBuild.allCases)
    func forwardLossesGradientsAndOneAdamStepMatchKeras(kernels: KernelBuild) throws {
        try useKernels(kernels)
        defer { KernelBuild.endUseOnThisThread() }
        let p = try parameters()
        let inputs = try reference.values(of: "ref.input_8x8")
        let targets = try reference.values(of: "ref.target_28x28")
        let eps = try reference.values(of: "ref.epsilon")
        let workspace = Workspace(capacity: batch, shape: .seed)
        var gradients = [Float](repeating: .nan, count: model.layout.count)

        let sums = model.trainingStep(parameters: p, gradients: &gradients, inputs: inputs, targets: targets, eps: eps,
                                      batch: batch, lossScale: 1 / Float(batch), klWeight: 1, precision: .fp32, workspace: workspace)

        for (name, pointer) in [("ref.z_mean", workspace.mean), ("ref.z_log_var", workspace.logVar), ("ref.z", workspace.z)] {
            let mine = Array(UnsafeBufferPointer(start: pointer, count: batch * 2))
            let error = relativeError(mine[...], try reference.values(of: name))
            #expect(error < 1e-5, "\(name): relative error \(error)")
        }
        var probabilities = Array(UnsafeBufferPointer(start: workspace.logits, count: batch * VAE.outputPixels))
        probabilities.withUnsafeMutableBufferPointer { Elementwise.sigmoid($0.baseAddress!, count: $0.count) }
        let reconstructionError = relativeError(probabilities[...], try reference.values(of: "ref.reconstruction"))
        #expect(reconstructionError < 1e-5, "reconstruction: relative error \(reconstructionError)")

        let losses = try reference.values(of: "ref.losses")   // [reconstruction, kl, total]
        let mine = [Float(sums.reconstruction) / Float(batch), Float(sums.kl) / Float(batch),
                    Float(sums.reconstruction + sums.kl) / Float(batch)]
        for i in 0..<3 {
            #expect(abs(mine[i] - losses[i]) / abs(losses[i]) < 1e-5, "loss \(i): \(mine[i]) vs Keras \(losses[i])")
        }

        for spec in model.layout.specs {
            let error = relativeError(gradients[spec.range], try reference.values(of: "ref.grad." + spec.name))
            #expect(error < 1e-5, "gradient of \(spec.name): relative error \(error)")
        }

        // The whole step: these gradients through Adam give Keras's parameters after one step.
        // Adam's first step divides each gradient by its own magnitude (plus epsilon 1e-7), so
        // for gradients near 1e-7 it magnifies their float32 rounding; hence 1e-4 here, while
        // `adamStepMatchesKeras` checks the optimiser alone at 1e-6.
        var updated = p
        var adam = Adam(count: p.count, hyperparameters: AdamHyperparameters())
        adam.update(&updated, gradients: gradients)
        let after = try parameters(prefix: "ref.after_one_adam_step.")
        for spec in model.layout.specs {
            let error = relativeError(updated[spec.range], Array(after[spec.range]))
            #expect(error < 1e-4, "\(spec.name) after one step from our gradients: relative error \(error)")
        }
    }

    /// A wider encoder whose extra hidden units are zero (their kernel columns, biases and latent
    /// rows) computes the seed's model: Keras's losses and gradients, and exactly zero gradients
    /// for the extra weights, since a unit that is never active passes nothing back. A width
    /// read from the wrong place anywhere (a stride, a workspace size) would break it.
    @Test func aWiderEncoderPaddedWithZerosComputesKerasModel() throws {
        let width = 37, seedWidth = ModelShape.seed.encoderWidth
        let wide = VAE(shape: ModelShape(latentDimension: 2, encoderWidth: width))
        let seed = try parameters()
        /// Where each of the seed's values sits in the wide layout.
        func wideIndex(_ spec: ParameterSpec, _ i: Int) -> Int {
            let target = wide.layout.specs.first { $0.name == spec.name }!
            switch spec.name {
            case "encoder.dense.kernel": return target.offset + (i / seedWidth) * width + i % seedWidth   // [256, width]
            default: return target.offset + i   // biases and latent kernels [width, latent]: the seed's part comes first
            }
        }
        var p = [Float](repeating: 0, count: wide.layout.count)
        var seedPlace: [Int] = []
        for spec in model.layout.specs {
            for i in 0..<spec.count { p[wideIndex(spec, i)] = seed[spec.offset + i]; seedPlace.append(wideIndex(spec, i)) }
        }
        let inputs = try reference.values(of: "ref.input_8x8"), targets = try reference.values(of: "ref.target_28x28")
        let eps = try reference.values(of: "ref.epsilon")
        var gradients = [Float](repeating: .nan, count: wide.layout.count)
        let sums = wide.trainingStep(parameters: p, gradients: &gradients, inputs: inputs, targets: targets, eps: eps,
                                     batch: batch, lossScale: 1 / Float(batch), klWeight: 1, precision: .fp32,
                                     workspace: Workspace(capacity: batch, shape: wide.shape))
        let losses = try reference.values(of: "ref.losses")
        let total = Float(sums.reconstruction + sums.kl) / Float(batch)
        #expect(abs(total - losses[2]) / losses[2] < 1e-5, "loss \(total) vs Keras \(losses[2])")
        var position = 0
        for spec in model.layout.specs {
            let mine = seedPlace[position..<(position + spec.count)].map { gradients[$0] }
            position += spec.count
            let error = relativeError(mine[...], try reference.values(of: "ref.grad." + spec.name))
            #expect(error < 1e-5, "gradient of \(spec.name) in the wide layout: relative error \(error)")
        }
        let extra = Set(0..<wide.layout.count).subtracting(seedPlace)
        #expect(extra.count == wide.layout.count - model.layout.count && extra.count == (width - seedWidth) * (256 + 1 + 2 * 2))
        #expect(extra.allSatisfy { gradients[$0] == 0 }, "the extra hidden units' weights get gradients")
    }

    /// The KL weight reaches the encoder's gradients only (the KL term is a function of the
    /// encoder's outputs), and linearly: the gradient at 1/2 is the mean of those at 0 and 1.
    @Test func klWeightScalesOnlyTheKLTermsGradient() throws {
        let p = try parameters()
        let inputs = try reference.values(of: "ref.input_8x8"), targets = try reference.values(of: "ref.target_28x28")
        let eps = try reference.values(of: "ref.epsilon")
        func gradient(klWeight: Float) -> [Float] {
            var gradients = [Float](repeating: .nan, count: model.layout.count)
            _ = model.trainingStep(parameters: p, gradients: &gradients, inputs: inputs, targets: targets, eps: eps,
                                   batch: batch, lossScale: 1 / Float(batch), klWeight: klWeight, precision: .fp32,
                                   workspace: Workspace(capacity: batch, shape: .seed))
            return gradients
        }
        let none = gradient(klWeight: 0), half = gradient(klWeight: 0.5), full = gradient(klWeight: 1)
        for spec in model.layout.specs {
            let (a, b, c) = (none[spec.range], half[spec.range], full[spec.range])
            if spec.name.hasPrefix("decoder.") {
                #expect(a == c && b == c, "\(spec.name) must not depend on the KL weight")
            } else {
                #expect(a != c, "\(spec.name) must depend on the KL weight")
                let mean = zip(a, c).map { ($0 + $1) / 2 }
                let error = relativeError(b, mean)
                #expect(error < 1e-5, "\(spec.name): gradient at 1/2 is off the mean of 0 and 1 by \(error)")
            }
        }
    }

    /// The backward pass reports each of `gradientsFinalOffsets`, in order, once the gradients
    /// from there to the end hold their final values: a sum started then sees the same values.
    @Test func gradientsReportedFinalDoNotChangeAfterwards() throws {
        let p = try parameters()
        let inputs = try reference.values(of: "ref.input_8x8"), targets = try reference.values(of: "ref.target_28x28")
        let eps = try reference.values(of: "ref.epsilon")
        let gradients = UnsafeMutableBufferPointer<Float>.allocate(capacity: model.layout.count)
        defer { gradients.deallocate() }
        gradients.initialize(repeating: .nan)
        var reported: [(offset: Int, values: [UInt32])] = []
        _ = model.trainingStep(parameters: p, gradients: gradients.baseAddress!, inputs: inputs, targets: targets, eps: eps,
                               batch: batch, lossScale: 1 / Float(batch), klWeight: 1, precision: .fp32,
                               workspace: Workspace(capacity: batch, shape: .seed),
                               gradientsFinal: { reported.append(($0, gradients[$0...].map(\.bitPattern))) })
        #expect(reported.map(\.offset) == model.gradientsFinalOffsets)
        for (offset, values) in reported {
            #expect(values == gradients[offset...].map(\.bitPattern), "gradients from \(offset) changed after they were reported final")
            #expect(!values.contains(Float.nan.bitPattern), "gradients from \(offset) were reported final before they were written")
        }
    }

    @Test func adamStepMatchesKeras() throws {
        // Adam from the Keras gradients, so that this checks the optimiser alone.
        var p = try parameters()
        var g = [Float](repeating: 0, count: model.layout.count)
        for spec in model.layout.specs {
            g.replaceSubrange(spec.range, with: try reference.values(of: "ref.grad." + spec.name))
        }
        let after = try parameters(prefix: "ref.after_one_adam_step.")
        var adam = Adam(count: p.count, hyperparameters: AdamHyperparameters())
        adam.update(&p, gradients: g)
        for spec in model.layout.specs {
            let error = relativeError(p[spec.range], Array(after[spec.range]))
            #expect(error < 1e-6, "\(spec.name) after one Adam step: relative error \(error)")
        }
    }

    /// Keras's CosineDecay (alpha 0) over 10 updates: from the full rate to 0, half at the middle,
    /// 0 beyond; and an update under it is the constant-rate update at that step's rate.
    @Test func cosineDecayIsKerasScheduleAndScalesAdamsRate() throws {
        let schedule = LearningRateSchedule.cosineDecay(steps: 10)
        let shares = (0...12).map { schedule.share(afterUpdates: $0) }
        #expect(shares[0] == 1 && shares[5] == 0.5 && shares[10] == 0 && shares[12] == 0)
        #expect(zip(shares, shares.dropFirst()).allSatisfy { $0 > $1 || $1 == 0 }, "\(shares)")
        #expect(abs(shares[2] - Float((1 + cos(Double.pi / 5)) / 2)) <= 1e-7)
        #expect(LearningRateSchedule.constant.share(afterUpdates: 1_000_000) == 1)

        var g = [Float](repeating: 0, count: model.layout.count)
        for spec in model.layout.specs { g.replaceSubrange(spec.range, with: try reference.values(of: "ref.grad." + spec.name)) }
        let start = try parameters()
        var scheduled = start, constant = start
        var a = Adam(count: start.count, hyperparameters: AdamHyperparameters())
        for _ in 0..<3 { a.update(&scheduled, gradients: g, schedule: schedule) }
        // The same moments at step 3, then one update at the constant rate 0.001 * share(3).
        var b = Adam(hyperparameters: AdamHyperparameters(learningRate: 1e-3 * shares[3]), m: a.m, v: a.v, step: 3)
        constant = scheduled
        a.update(&scheduled, gradients: g, schedule: schedule)
        b.update(&constant, gradients: g)
        #expect(scheduled == constant && scheduled != start)
    }

    /// One step in `precision` on the fixture's batch: its gradients and its mean loss.
    func step(_ p: [Float], precision: Precision) throws -> (gradients: [Float], loss: Double) {
        let inputs = try reference.values(of: "ref.input_8x8"), targets = try reference.values(of: "ref.target_28x28")
        let eps = try reference.values(of: "ref.epsilon")
        var gradients = [Float](repeating: .nan, count: model.layout.count)
        let sums = model.trainingStep(parameters: p, gradients: &gradients, inputs: inputs, targets: targets, eps: eps,
                                      batch: batch, lossScale: 1 / Float(batch), klWeight: 1, precision: precision,
                                      workspace: Workspace(capacity: batch, shape: .seed))
        return (gradients, (sums.reconstruction + sums.kl) / Double(batch))
    }

    /// bf16 rounds the decoder's upsampling products: its gradients are Keras's float32 ones to
    /// bf16's precision, and not to float32's. The loosest are those behind deconv1's input
    /// gradient (the decoder's dense layer, 8% of its largest value here), sums that cancel.
    @Test(arguments: KernelBuild.allCases.filter(\.runsBF16))
    func bf16GradientsAreKerasToBF16Precision(kernels: KernelBuild) throws {
        try useKernels(kernels)
        defer { KernelBuild.endUseOnThisThread() }
        let (gradients, loss) = try step(try parameters(), precision: .bf16)
        let losses = try reference.values(of: "ref.losses")
        #expect(abs(loss - Double(losses[2])) / Double(losses[2]) < 1e-3, "loss \(loss) vs Keras \(losses[2])")
        var roundingShows = false
        for spec in model.layout.specs {
            let error = relativeError(gradients[spec.range], try reference.values(of: "ref.grad." + spec.name))
            #expect(error < 0.1, "bf16 gradient of \(spec.name): relative error \(error)")
            if error > 1e-4 { roundingShows = true }
        }
        #expect(roundingShows, "no gradient shows bf16's rounding: was the step run in float32?")
    }

    /// The bf16 step's gradient is a gradient: along a random direction in each of the decoder's
    /// tensors, it agrees with central differences of the float32 loss to bf16's precision
    /// (relative to the sum of the terms |g_i v_i|; a wrong gradient misses by about their
    /// square root's share). The encoder's tensors move the loss too little for a difference
    /// of float32 losses to resolve.
    @Test func bf16GradientsMatchFiniteDifferencesOfTheLoss() throws {
        guard KernelBuild.best.runsBF16 else { try Test.cancel("this CPU runs no build with bf16 kernels") }
        let p = try parameters()
        let (gradients, _) = try step(p, precision: .bf16)
        var rng = SplitMix64(state: 3)
        for spec in model.layout.specs where spec.name.hasPrefix("decoder.") {
            let direction = spec.range.map { _ in Float.random(in: -1...1, using: &rng) }
            // A step of 1e-3 of the tensor's own scale: large against the loss's float32
            // rounding, small against the curvature of its ReLUs.
            let scale = max(p[spec.range].map(abs).max()!, 1e-2), h = 1e-3 * scale
            func loss(_ sign: Float) throws -> Double {
                var moved = p
                for (j, i) in spec.range.enumerated() { moved[i] += sign * h * direction[j] }
                return try step(moved, precision: .fp32).loss
            }
            let difference = (try loss(1) - loss(-1)) / Double(2 * h)
            let analytic = zip(gradients[spec.range], direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let size = zip(gradients[spec.range], direction).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            #expect(abs(difference - analytic) <= 2e-3 * size,
                    "\(spec.name): bf16 gradient along a direction \(analytic), finite differences \(difference)")
        }
    }
}

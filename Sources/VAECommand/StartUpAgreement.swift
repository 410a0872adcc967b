import Distributed
import Training

/// Before the first step, every rank must run the same job: same settings, same data, same
/// starting point; and round alike: what is left of the bits that can differ between hosts.
enum StartUpAgreement {
    /// Returns the ranks' kernel builds, which the run's header names.
    static func require(_ run: PreparedRun, _ communicator: Communicator) throws -> RankKernels {
        let settings = TrainingConfiguration.settings.filter { $0.key != nil }.map { "\($0.flag) \($0.text(run.configuration))" }
        let agreement = "\(settings) \(run.train.fingerprint) \(run.state.step)"
        guard try communicator.allAgree(on: stableChecksum(agreement.utf8), label: "start-up agreement") else {
            throw AgreedFailure("ranks were started with different configurations (flags, data or checkpoints differ between ranks); every rank must get the same arguments")
        }
        let kernels = try RankKernels.gather(communicator)
        try kernels.requireSameBits()
        try kernels.require(run.configuration.precision)
        return kernels
    }
}

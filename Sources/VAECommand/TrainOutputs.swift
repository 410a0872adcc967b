import Dataset
import Foundation
import Model
import Training

/// What `vae train` leaves in RUN/outputs, every --outputs-every epochs and at the end: the
/// run's pictures and report page for the parameters the trainer holds then, and the pictures
/// in TensorBoard at that step.
struct TrainOutputs {
    let runDirectory: URL
    let run: PreparedRun
    let worldSize: Int
    let tensorBoard: TensorBoardLog?

    /// Returns the report page's location.
    func write(_ trainer: Trainer) throws -> URL {
        let c = trainer.configuration, state = trainer.state
        let settings = [("position", "epoch \(state.epoch) of \(c.epochs), step \(state.step)"),
                        ("data", "\(run.dataDirectory.path) (\(trainer.imageCount) training images)")]
            + c.shownSettings + [("ranks", "\(worldSize)")]
        let weights = InferenceWeights(model: trainer.model, parameters: state.parameters, klWeight: c.klWeight)
        let report = try RunOutputs(runDirectory: runDirectory).write(weights, train: run.train, test: run.test, settings: settings)
        try tensorBoard?.outputs(in: report.deletingLastPathComponent(), step: state.step)
        return report
    }
}

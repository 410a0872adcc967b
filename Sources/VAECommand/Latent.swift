import ArgumentParser
import Dataset
import Evaluation
import Foundation
import Media
import Model

struct Latent: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Picture the latent space: the encodings (z_mean) of a split's digits, coloured by digit.",
        discussion: "Writes an SVG scatter plot; for a latent of more than two dimensions, the two that vary most.")

    @OptionGroup var weights: WeightsOption

    @OptionGroup var dataOption: DataOption

    @Option(help: "Which split to encode: train or test.")
    var split: Split = .test

    @Option(help: "Encode the first N images only. (default: all)")
    var first: Int?

    @Option(help: "The SVG file to write.")
    var out: String

    func validate() throws {
        guard out.hasSuffix(".svg") else { throw ValidationError("--out \(out): the name must end in .svg") }
        if let first, first < 1 { throw ValidationError("--first must be at least 1 (got \(first))") }
    }

    func run() throws {
        let weights = try self.weights.load()
        let images = try dataOption.load(split)
        let count = min(first ?? images.count, images.count)
        try LatentPicture.scatter(weights, images: images, count: count).write(to: URL(fileURLWithPath: out))
        Console.say("encoded \(count) \(split.rawValue) images -> \(out)")
    }
}

/// Pictures of the latent space, shared by `vae latent` and the run's outputs.
enum LatentPicture {
    static let manifoldSide = 15
    static let manifoldExtent = 2.0

    static func scatter(_ weights: InferenceWeights, images: ImageSet, count: Int) -> ScatterPlot {
        let encodings = LatentEncodings(weights, images: images, count: count)
        let (a, b) = encodings.mostSpreadDimensions()
        let x = encodings.values(along: a), y = b.map { encodings.values(along: $0) }
        let points = (0..<count).map { i in
            ScatterPlot.Point(x: x[i], y: y?[i] ?? 0, classIndex: Int(images.labels[i]))
        }
        return ScatterPlot(title: "Latent space: \(count) \(images.split.rawValue) digits",
                           xLabel: "z[\(a)]", yLabel: b.map { "z[\($0)]" } ?? "(latent is 1-D)", points: points)
    }

    /// The decodings of `LatentPlane.decodings`, as one picture.
    static func manifold(_ weights: InferenceWeights) -> GreyImage {
        let n = manifoldSide
        let decoded = LatentPlane.decodings(weights, side: n, extent: manifoldExtent)
        return GreyImage.grid(GreyImage.squares(decoded, side: VAE.outputSide), columns: n, padding: 0, background: 0).enlarged(by: 2)
    }
}

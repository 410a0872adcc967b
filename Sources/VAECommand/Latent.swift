import ArgumentParser
import Dataset
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

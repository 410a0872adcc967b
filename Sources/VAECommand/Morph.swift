import ArgumentParser
import Dataset
import Foundation
import Media
import Model

struct Morph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Morph one digit into another: decode the line between their encodings.",
        discussion: """
        Encodes the two images' 8x8 inputs, walks the straight line between their z_mean in \
        --steps steps, and decodes each point: an animated GIF, and a PNG strip of the same frames. \
        The write-up morphs a 3 into a 2: training images 10 and 5 (the defaults).
        """)

    @OptionGroup var weights: WeightsOption

    @OptionGroup var dataOption: DataOption

    @Option(help: "Which split the images come from: train or test.")
    var split: Split = .train

    @Option(help: "Index of the first digit's image in the split. (default: 10)")
    var from: Int?

    @Option(help: "Index of the second digit's image in the split. (default: 5)")
    var to: Int?

    @Option(name: .customLong("from-digit"), help: "Start from the split's first image of this digit (0-9) instead.")
    var fromDigit: Int?

    @Option(name: .customLong("to-digit"), help: "End at the split's first image of this digit (0-9) instead.")
    var toDigit: Int?

    @Option(help: "Frames, both ends included.")
    var steps = 25

    @Option(help: "Frames per second of the GIF.")
    var fps = 10.0

    @Option(help: "Enlarge each pixel this many times.")
    var scale = 4

    @Option(help: "The animated GIF to write.")
    var out: String

    @Option(help: "The PNG strip of the frames. (default: the GIF's name with -strip.png)")
    var strip: String?

    func validate() throws {
        guard out.hasSuffix(".gif") else { throw ValidationError("--out \(out): the name must end in .gif") }
        if let strip, !strip.hasSuffix(".png") { throw ValidationError("--strip \(strip): the name must end in .png") }
        guard steps >= 2 && steps <= 1000 else { throw ValidationError("--steps must be between 2 and 1000 (got \(steps))") }
        guard fps > 0 && fps <= 100 else { throw ValidationError("--fps must be more than 0 and at most 100 (got \(fps))") }
        guard scale >= 1 && scale <= 64 else { throw ValidationError("--scale must be between 1 and 64 (got \(scale))") }
        if from != nil && fromDigit != nil { throw ValidationError("give --from or --from-digit, not both") }
        if to != nil && toDigit != nil { throw ValidationError("give --to or --to-digit, not both") }
        for (flag, digit) in [("--from-digit", fromDigit), ("--to-digit", toDigit)] {
            if let digit, !(0...9).contains(digit) { throw ValidationError("\(flag) must be a digit from 0 to 9 (got \(digit))") }
        }
    }

    func run() throws {
        let weights = try self.weights.load()
        let images = try dataOption.load(split)
        let first = try index(from, digit: fromDigit, default: 10, flag: "--from", in: images)
        let last = try index(to, digit: toDigit, default: 5, flag: "--to", in: images)
        let stripPath = strip ?? String(out.dropLast(4)) + "-strip.png"
        try Self.write(weights, from: images.lowResolution(first), to: images.lowResolution(last), steps: steps,
                       framesPerSecond: fps, gifScale: scale, stripScale: scale,
                       gif: URL(fileURLWithPath: out), strip: URL(fileURLWithPath: stripPath))
        Console.say("morphed \(split.rawValue) image \(first) (a \(images.labels[first])) into image \(last) (a \(images.labels[last])) in \(steps) frames -> \(out), \(stripPath)")
    }

    private func index(_ index: Int?, digit: Int?, default fallback: Int, flag: String, in images: ImageSet) throws -> Int {
        if let digit {
            guard let found = images.labels.firstIndex(of: UInt8(digit)) else {
                throw ValidationError("\(flag)-digit \(digit): no image of that digit in the \(split.rawValue) split")
            }
            return found
        }
        let chosen = index ?? fallback
        guard chosen >= 0 && chosen < images.count else {
            throw ValidationError("\(flag) \(chosen): the \(split.rawValue) split has images 0 to \(images.count - 1)")
        }
        return chosen
    }

    /// `steps` decodings along the line between two 8x8 inputs' encodings, as an animated GIF
    /// and a PNG strip, each pixel enlarged as asked.
    static func write(_ weights: InferenceWeights, from: [Float], to: [Float], steps: Int, framesPerSecond: Double,
                      gifScale: Int, stripScale: Int, gif: URL, strip: URL) throws {
        let frames = Inference.morph(weights, from: from, to: to, steps: steps)
        let pictures = GreyImage.squares(frames, side: VAE.outputSide).map { $0.enlarged(by: gifScale) }
        try GIF.write(frames: pictures, delayCentiseconds: GIF.delayCentiseconds(framesPerSecond: framesPerSecond), to: gif)
        try PNG.write(Sheet.digits(frames, count: steps, scale: stripScale, columns: steps), to: strip)
    }
}

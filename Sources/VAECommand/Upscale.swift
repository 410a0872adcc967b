import ArgumentParser
import Dataset
import Foundation
import Media
import Model

struct Upscale: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upscale 8x8 digits to 28x28 with a trained model.",
        discussion: """
        Takes the first N images of a split, makes their 8x8 inputs exactly as training does, and \
        decodes each image's z_mean. Writes a float32 .npy of shape [N,28,28] or a PNG sheet.
        """)

    @OptionGroup var weights: WeightsOption

    @OptionGroup var dataOption: DataOption

    @Option(help: "Which split to take images from: train or test.")
    var split: Split = .test

    @Option(help: "Upscale the first N images of the split.")
    var first = 16

    @Option(help: "Upscale this image (PNG or PGM, any size; made grey and resized to 8x8 as training inputs are) instead of data.")
    var input: String?

    @Flag(help: "With --input: the digit is dark on a light background (MNIST's are light on dark).")
    var invert = false

    @Option(help: "Output file: .npy (float32 [N,28,28], values in [0,1]) or .png (a sheet of the digits).")
    var out: String

    @Option(name: .customLong("save-lowres"), help: "Also write the 8x8 inputs as float32 .npy [N,8,8].")
    var saveLowres: String?

    @Option(help: "Enlarge each pixel of the PNG sheet this many times.")
    var scale = 4

    func validate() throws {
        guard first >= 1 else { throw ValidationError("--first must be at least 1 (got \(first))") }
        guard scale >= 1 && scale <= 64 else { throw ValidationError("--scale must be between 1 and 64 (got \(scale))") }
        guard out.hasSuffix(".npy") || out.hasSuffix(".png") else {
            throw ValidationError("--out \(out): the name must end in .npy or .png")
        }
        if invert && input == nil { throw ValidationError("--invert applies to --input only") }
        if let saveLowres, !saveLowres.hasSuffix(".npy") {
            throw ValidationError("--save-lowres \(saveLowres): the name must end in .npy")
        }
    }

    func run() throws {
        let weights = try self.weights.load()
        let (lowResolution, count, source) = try inputs()
        let upscaled = Inference.reconstruct(weights, inputs: lowResolution, count: count)
        let outURL = URL(fileURLWithPath: out)
        if out.hasSuffix(".npy") {
            try NPY.write(upscaled, shape: [count, VAE.outputSide, VAE.outputSide], to: outURL)
        } else {
            try PNG.write(Sheet.digits(upscaled, count: count, scale: scale), to: outURL)
        }
        if let saveLowres {
            try NPY.write(lowResolution, shape: [count, VAE.inputSide, VAE.inputSide], to: URL(fileURLWithPath: saveLowres))
        }
        Console.say("upscaled \(source) -> \(out)")
    }

    /// The 8x8 inputs: the user's image, or the first images of a split.
    private func inputs() throws -> (lowResolution: [Float], count: Int, source: String) {
        var lowResolution = [Float](repeating: 0, count: VAE.inputPixels)
        if let input {
            let read = try Image.read(URL(fileURLWithPath: input)), image = invert ? read.inverted : read
            image.pixels.withUnsafeBufferPointer { pixels in
                Resize.smartResize(pixels.baseAddress!, height: image.height, width: image.width,
                                   into: &lowResolution, outHeight: VAE.inputSide, outWidth: VAE.inputSide)
            }
            return (lowResolution, 1, input)
        }
        let images = try dataOption.load(split)
        guard first <= images.count else {
            throw ValidationError("--first \(first): the \(split.rawValue) split has only \(images.count) images")
        }
        lowResolution = [Float](repeating: 0, count: first * VAE.inputPixels)
        lowResolution.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<first { images.lowResolution(i, into: buffer.baseAddress! + i * VAE.inputPixels) }
        }
        return (lowResolution, first, "\(first) \(split.rawValue) images")
    }
}

extension Split: ExpressibleByArgument {}

/// Pictures of 28x28 digits, enlarged with crisp pixels.
enum Sheet {
    static func digits(_ pixels: [Float], count: Int, scale: Int, columns: Int = 10) -> GreyImage {
        let digits = GreyImage.squares(pixels, side: VAE.outputSide, count: count)
        return GreyImage.grid(digits, columns: min(count, columns), padding: 2, background: 0.25).enlarged(by: scale)
    }
}

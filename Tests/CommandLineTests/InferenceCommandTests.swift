import Checkpoint
import Foundation
import Media
import Testing
import TestSupport

/// `vae morph`, `vae upscale --input` and `vae inspect` on one short run.
@Suite(.serialized)
struct InferenceCommandTests {
    static let run = VAEProcess.trainedRun(["--epochs", "1", "--limit", "512", "--test-images", "0"])

    @Test func morphHasTheFramesAskedAndEndsAtTheTwoDigits() throws {
        let gif = Self.run.appendingPathComponent("morph.gif")
        let result = try VAEProcess.run(["morph", "--checkpoint", Self.run.path, "--from", "10", "--to", "5",
                                         "--steps", "7", "--scale", "1", "--out", gif.path])
        #expect(result.status == 0, "\(result.stderr)")
        let (frames, delays) = try GIF.read(gif)
        #expect(frames.count == 7 && delays.allSatisfy { $0 == 10 })
        #expect(frames.allSatisfy { $0.width == 28 && $0.height == 28 })

        // The ends are the two images' own upscalings (through 8-bit GIF quantisation).
        let ends = Self.run.appendingPathComponent("ends.npy")
        for (index, frame) in [(10, frames[0]), (5, frames[6])] {
            #expect(try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--split", "train", "--first", "11",
                                        "--out", ends.path]).status == 0)
            let upscaled = try NPY.read(ends).values[(index * 784)..<((index + 1) * 784)]
            let worst = zip(frame.pixels, upscaled).map { abs($0 - $1) }.max()!
            #expect(worst <= 0.5 / 255 + 1e-6, "frame for image \(index) differs by \(worst)")
        }
        let strip = try Image.read(Self.run.appendingPathComponent("morph-strip.png"))
        #expect(strip.height == 28 + 4 && strip.width == 7 * 30 + 2)
    }

    @Test func morphByDigitAndItsRefusals() throws {
        let gif = Self.run.appendingPathComponent("digits.gif").path
        let result = try VAEProcess.run(["morph", "--checkpoint", Self.run.path, "--from-digit", "3", "--to-digit", "2",
                                         "--out", gif])
        #expect(result.status == 0 && result.stdout.contains("(a 3)") && result.stdout.contains("(a 2)"), "\(result.stdout)")
        expectRefusal(try VAEProcess.run(["morph", "--checkpoint", Self.run.path, "--from", "60000", "--out", gif]),
                      "--from 60000", "0 to 59999")
        expectRefusal(try VAEProcess.run(["morph", "--checkpoint", Self.run.path, "--from-digit", "12", "--out", gif]),
                      "--from-digit must be a digit")
        expectRefusal(try VAEProcess.run(["morph", "--checkpoint", Self.run.path, "--steps", "1", "--out", gif]), "--steps")
        expectRefusal(try VAEProcess.run(["morph", "--checkpoint", Self.run.path, "--out", "x.png"]), ".gif")
    }

    @Test func upscalesAUsersImageOfAnySize() throws {
        // A 56x40 light-on-dark "1": a vertical bar, written as a PGM.
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var pixels = [UInt8](repeating: 0, count: 56 * 40)
        for y in 8..<48 { for x in 17..<23 { pixels[y * 40 + x] = 255 } }
        let pgm = folder.appendingPathComponent("one.pgm")
        try (Data("P5\n40 56\n255\n".utf8) + Data(pixels)).write(to: pgm)
        let out = folder.appendingPathComponent("one.png"), low = folder.appendingPathComponent("low.npy")
        let result = try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--input", pgm.path, "--scale", "3",
                                         "--out", out.path, "--save-lowres", low.path])
        #expect(result.status == 0, "\(result.stderr)")
        let image = try Image.read(out)
        #expect(image.width == (28 + 4) * 3 && image.height == (28 + 4) * 3)
        let input = try NPY.read(low)
        #expect(input.shape == [1, 8, 8])
        // Centre-cropped to square, then shrunk: the bar stays in the middle columns.
        var middle: Float = 0, edges: Float = 0
        for row in 0..<8 {
            middle += input.values[row * 8 + 3] + input.values[row * 8 + 4]
            edges += input.values[row * 8] + input.values[row * 8 + 7]
        }
        #expect(middle > 2 && edges == 0, "middle \(middle), edges \(edges)")

        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--input", "/etc/hostname",
                                          "--out", out.path]), "/etc/hostname", "not a PNG or PGM")
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--invert", "--out", out.path]),
                      "--invert applies to --input only")
    }

    @Test func inspectShowsPositionSettingsAndTensors() throws {
        let result = try VAEProcess.run(["inspect", "--checkpoint", Self.run.path])
        #expect(result.status == 0, "\(result.stderr)")
        for fragment in ["step 4", "latent dimension 2", "batch size 128", "seed 1", "limit 512", "data_sha256 verified",
                         "encoder.conv1.kernel", "[3, 3, 1, 32]", "optimizer.v.decoder.deconv3.bias", "54, 264255"] {
            #expect(result.stdout.contains(fragment), "inspect lacks '\(fragment)': \(result.stdout)")
        }
        expectRefusal(try VAEProcess.run(["inspect", "--checkpoint", "/nonexistent"]), "/nonexistent", "no such file")
    }

    /// `inspect --json` describes the architecture the checkpoint's tensors have: names, shapes,
    /// where each starts in the flat buffer, and the count the benchmark sizes its buffer by.
    @Test func inspectJSONDescribesTheCheckpointsTensors() throws {
        struct Architecture: Decodable {
            struct Tensor: Decodable { let name: String, shape: [Int], offset: Int }
            let latent_dim, input_side, output_side, parameters: Int
            let tensors: [Tensor]
        }
        let result = try VAEProcess.run(["inspect", "--json", "--checkpoint", Self.run.path])
        #expect(result.status == 0, "\(result.stderr)")
        let architecture = try JSONDecoder().decode(Architecture.self, from: Data(result.stdout.utf8))
        let file = try CheckpointLocation.read(Self.run, warn: { _ in })
        #expect(architecture.tensors.map(\.name) == file.names.filter { !$0.hasPrefix("optimizer.") })
        var offset = 0
        for tensor in architecture.tensors {
            #expect(file.shape(of: tensor.name) == tensor.shape && tensor.offset == offset, "\(tensor.name)")
            offset += tensor.shape.reduce(1, *)
        }
        #expect(architecture.parameters == offset && architecture.latent_dim == 2)
        #expect(architecture.input_side == 8 && architecture.output_side == 28)
        let wider = try VAEProcess.run(["inspect", "--json", "--latent-dim", "3"])
        #expect(try JSONDecoder().decode(Architecture.self, from: Data(wider.stdout.utf8)).latent_dim == 3)
        expectRefusal(try VAEProcess.run(["inspect"]), "--checkpoint")
    }
}

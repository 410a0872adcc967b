import Foundation
import Media
import Testing
import TestSupport

/// `vae upscale`: its outputs, and its refusals.
@Suite(.serialized)
struct UpscaleCommandTests {
    /// One short training run shared by the tests of this suite.
    static let run = VAEProcess.trainedRun(["--epochs", "1", "--limit", "256", "--test-images", "0"])
    static var checkpoint: String { run.appendingPathComponent("checkpoints/step-000000002.safetensors").path }

    @Test func writesNpyAndLowResolutionAndPng() throws {
        let out = Self.run.appendingPathComponent("up.npy"), low = Self.run.appendingPathComponent("low.npy")
        let result = try VAEProcess.run(["upscale", "--checkpoint", Self.checkpoint, "--first", "5",
                                         "--out", out.path, "--save-lowres", low.path])
        #expect(result.status == 0, "\(result.stderr)")
        let upscaled = try NPY.read(out), lowResolution = try NPY.read(low)
        #expect(upscaled.shape == [5, 28, 28] && lowResolution.shape == [5, 8, 8])
        #expect(upscaled.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(lowResolution.values.allSatisfy { $0 >= 0 && $0 <= 1 } && lowResolution.values.contains { $0 > 0.5 })

        // A run directory means its newest checkpoint: the same numbers.
        let again = Self.run.appendingPathComponent("again.npy")
        #expect(try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--first", "5", "--out", again.path]).status == 0)
        #expect(try NPY.read(again).values == upscaled.values)

        let png = Self.run.appendingPathComponent("sheet.png")
        #expect(try VAEProcess.run(["upscale", "--checkpoint", Self.checkpoint, "--first", "3", "--scale", "2",
                                    "--out", png.path]).status == 0)
        let sheet = try Image.read(png)
        #expect(sheet.height == (28 + 4) * 2 && sheet.width == (3 * 30 + 2) * 2)
    }

    @Test func badArgumentsAreRefusedInOneLine() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("x.npy").path
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", "/no/such.safetensors", "--out", out]), "/no/such.safetensors")
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", Self.checkpoint, "--out", folder.appendingPathComponent("x.jpg").path]),
                      ".npy or .png")
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", Self.checkpoint, "--first", "10001", "--out", out]),
                      "only 10000 images")
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", Self.checkpoint, "--split", "validation", "--out", out]),
                      "--split")
        expectRefusal(try VAEProcess.run(["upscale", "--out", out]), "--checkpoint")

        // A damaged checkpoint, a file that is not one, and weights of another model.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.checkpoint))
        bytes[bytes.count - 1] ^= 1
        let damaged = folder.appendingPathComponent("damaged.safetensors")
        try bytes.write(to: damaged)
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", damaged.path, "--out", out]), "damaged.safetensors", "data_sha256")
        let text = folder.appendingPathComponent("notes.safetensors")
        try Data("hello".utf8).write(to: text)
        expectRefusal(try VAEProcess.run(["upscale", "--checkpoint", text.path, "--out", out]), "notes.safetensors")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written on refusal")
    }

    @Test func kerasWeightsWithoutChecksumAreAccepted() throws {
        // The Keras fixture has no data_sha256: inference accepts weights from other tools.
        let fixture = VAEProcess.repository.appendingPathComponent("Tests/ModelTests/Fixtures/keras-reference.safetensors")
        let out = Self.run.appendingPathComponent("keras.npy")
        let result = try VAEProcess.run(["upscale", "--checkpoint", fixture.path, "--first", "2", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try NPY.read(out).shape == [2, 28, 28])
    }
}

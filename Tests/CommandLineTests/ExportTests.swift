import Foundation
import Testing
import TestSupport

/// `vae export`: onnxruntime's outputs against `vae upscale` on the same 1,000 test digits, for
/// latent 2 and 16 and a wider encoder (Keras-named random weights), and weights of another
/// shape refused.
@Suite struct ExportTests {
    /// Writes Keras-named random weights of latent `latent` and encoder width `width` (a `conv1`
    /// of `conv1Filters`).
    static func randomWeights(latent: Int, width: Int = 16, conv1Filters: Int = 32, to url: URL) throws {
        let script = """
        import sys, numpy as np
        from safetensors.numpy import save_file
        latent, width, filters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        shapes = {"encoder.conv1": [3, 3, 1, filters], "encoder.conv2": [3, 3, 32, 64], "encoder.dense": [256, width],
                  "encoder.z_mean": [width, latent], "encoder.z_log_var": [width, latent], "decoder.dense": [latent, 3136],
                  "decoder.deconv1": [3, 3, 64, 64], "decoder.deconv2": [3, 3, 32, 64], "decoder.deconv3": [3, 3, 1, 32]}
        rng = np.random.default_rng(latent)
        tensors = {}
        for name, shape in shapes.items():
            # Conv2DTranspose kernels are [kh, kw, out, in].
            outputs = shape[2] if "deconv" in name else shape[-1]
            fan_in = int(np.prod(shape)) // outputs
            tensors[name + ".kernel"] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype("float32")
            tensors[name + ".bias"] = (rng.standard_normal(outputs) * 0.05).astype("float32")
        save_file(tensors, sys.argv[4])
        """
        _ = try runPython(script, ["\(latent)", "\(width)", "\(conv1Filters)", url.path])
    }

    @Test(arguments: [(2, 16), (16, 16), (16, 128)]) func onnxruntimeReproducesVaeUpscale(latent: Int, width: Int) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights = folder.appendingPathComponent("weights.safetensors")
        try Self.randomWeights(latent: latent, width: width, to: weights)
        let upscaled = folder.appendingPathComponent("up.npy"), inputs = folder.appendingPathComponent("low.npy")
        let upscale = try VAEProcess.run(["upscale", "--checkpoint", weights.path, "--first", "1000",
                                          "--out", upscaled.path, "--save-lowres", inputs.path])
        #expect(upscale.status == 0, "\(upscale.stderr)")
        let model = folder.appendingPathComponent("upscaler.onnx"), decoder = folder.appendingPathComponent("decoder.onnx")
        let export = try VAEProcess.run(["export", "--checkpoint", weights.path, "--onnx", model.path])
        #expect(export.status == 0, "\(export.stderr)")
        let exportDecoder = try VAEProcess.run(["export", "--checkpoint", weights.path, "--onnx", decoder.path, "--decoder-only"])
        #expect(exportDecoder.status == 0, "\(exportDecoder.stderr)")

        // The whole batch at once, then one digit (the batch dimension is free); the decoder
        // alone on the upscaler's z_mean.
        let script = """
        import sys, numpy as np, onnxruntime as ort
        model, decoder, inputs, expected = sys.argv[1:]
        x = np.load(inputs).astype(np.float32).reshape(-1, 1, 8, 8)
        expected = np.load(expected).reshape(-1, 1, 28, 28)
        upscaler = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        z, out = upscaler.run(["z_mean", "output"], {"input": x})
        _, single = upscaler.run(None, {"input": x[7:8]})
        decoded, = ort.InferenceSession(decoder, providers=["CPUExecutionProvider"]).run(None, {"z": z})
        print(len(x), z.shape[1], np.abs(out - expected).max(), np.abs(single - expected[7:8]).max(),
              np.abs(decoded - expected).max(), out.std())
        """
        let numbers = String(decoding: try runPython(script, [model.path, decoder.path, inputs.path, upscaled.path]), as: UTF8.self)
            .split(whereSeparator: \.isWhitespace).map { Double(String($0)) ?? .nan }
        print("latent \(latent), encoder width \(width): images, latent, max |onnxruntime - vae upscale| (batch, one, decoder), output spread: \(numbers)")
        #expect(numbers.count == 6)
        guard numbers.count == 6 else { return }
        #expect(numbers[0] == 1000 && numbers[1] == Double(latent))
        for difference in numbers[2...4] { #expect(difference <= 1e-5) }
        #expect(numbers[5] > 0.01, "random weights still give upscales that vary")
    }

    @Test func weightsOfAnotherShapeAreRefusedInOneLine() throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights = folder.appendingPathComponent("narrow.safetensors")
        try Self.randomWeights(latent: 2, conv1Filters: 16, to: weights)
        let onnx = folder.appendingPathComponent("narrow.onnx")
        expectRefusal(try VAEProcess.run(["export", "--checkpoint", weights.path, "--onnx", onnx.path]),
                      "narrow.safetensors", "encoder.conv1.kernel")
        #expect(!FileManager.default.fileExists(atPath: onnx.path))
        expectRefusal(try VAEProcess.run(["export", "--checkpoint", weights.path, "--onnx", folder.appendingPathComponent("x.txt").path]),
                      ".onnx")
    }
}

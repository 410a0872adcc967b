import Dataset
import Foundation
import Media
import Testing
import TestSupport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// `vae eval` against an independent computation, `vae latent`, and the outputs a run leaves.
@Suite(.serialized)
struct EvalAndOutputsTests {
    static let run = VAEProcess.trainedRun(["--epochs", "2", "--limit", "1024", "--test-images", "200"])

    static func isWellFormedXML(_ url: URL) throws -> Bool {
        XMLParser(data: try Data(contentsOf: url)).parse()
    }

    @Test func evalMatchesAnIndependentComputation() throws {
        let result = try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--first", "6", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        for key in ["reconstruction_loss", "kl_loss", "loss", "psnr_db", "ssim", "bilinear", "bicubic"] {
            #expect(json[key] != nil, "eval --json lacks \(key)")
        }

        // The same six upscalings through `vae upscale`, scored here from scratch.
        let npy = Self.run.appendingPathComponent("six.npy")
        #expect(try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--first", "6", "--out", npy.path]).status == 0)
        let predicted = try NPY.read(npy).values
        let test = try ImageSet.load(.test, from: VAEProcess.repository.appendingPathComponent("data/mnist"))
        var psnr = 0.0, bce = 0.0
        for i in 0..<6 {
            var mse = 0.0
            for j in 0..<784 {
                let y = Double(test.pixels[i * 784 + j]) / 255, p = Double(predicted[i * 784 + j])
                mse += (p - y) * (p - y) / 784
                let clamped = min(max(p, 1e-12), 1 - 1e-12)
                bce -= y * log(clamped) + (1 - y) * log(1 - clamped)
            }
            psnr += 10 * log10(1 / mse) / 6
        }
        #expect(abs((json["psnr_db"] as! Double) - psnr) < 1e-4, "psnr \(json["psnr_db"]!) vs \(psnr)")
        #expect(abs((json["reconstruction_loss"] as! Double) - bce / 6) < 1e-3 * bce / 6,
                "reconstruction \(json["reconstruction_loss"]!) vs \(bce / 6)")

        let table = try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--first", "6"])
        #expect(table.status == 0 && table.stdout.contains("bicubic") && table.stdout.contains("PSNR"))
        expectRefusal(try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--split", "nope"]), "--split")
    }

    /// The test loss is the loss the run minimised: `vae eval` weighs the KL term as training did.
    @Test func evalWeighsTheKLTermAsTheRunDid() throws {
        let run = VAEProcess.trainedRun(["--epochs", "1", "--limit", "256", "--batch-size", "64", "--test-images", "0",
                                         "--kl-weight", "0.25"])
        defer { try? FileManager.default.removeItem(at: run) }
        let result = try VAEProcess.run(["eval", "--checkpoint", run.path, "--first", "6", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let (loss, reconstruction, kl) = (json["loss"] as! Double, json["reconstruction_loss"] as! Double, json["kl_loss"] as! Double)
        #expect(kl > 0 && abs(loss - (reconstruction + 0.25 * kl)) <= 1e-12 * loss, "\(json)")
    }

    /// The read-right figures of `vae eval --json` against numpy's reader on `vae upscale`'s
    /// output and on the originals; a missing or damaged reader refused in one line.
    @Test func evalReadRightMatchesANumpyRecount() throws {
        let result = try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--first", "200", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        for key in ["read_right", "most_misread", "originals"] { #expect(json[key] != nil, "eval --json lacks \(key)") }
        for source in ["bilinear", "bicubic", "originals"] {
            let part = json[source] as? [String: Any]
            #expect(part?["read_right"] is Double && part?["most_misread"] is [Any], "eval --json's \(source) lacks read_right")
        }

        let npy = Self.run.appendingPathComponent("two-hundred.npy")
        #expect(try VAEProcess.run(["upscale", "--checkpoint", Self.run.path, "--first", "200", "--out", npy.path]).status == 0)
        let repository = VAEProcess.repository
        let script = numpyDigitReader + """

        import gzip, sys
        weights, upscales, mnist = sys.argv[1:]
        with gzip.open(mnist + "/t10k-labels-idx1-ubyte.gz") as f: labels = np.frombuffer(f.read(), np.uint8, offset=8)[:200]
        with gzip.open(mnist + "/t10k-images-idx3-ubyte.gz") as f: originals = np.frombuffer(f.read(), np.uint8, offset=16)[:200 * 784]
        print(np.mean(read(weights, np.load(upscales)) == labels), np.mean(read(weights, originals / 255.0) == labels))
        """
        let recount = String(decoding: try runPython(script, [repository.appendingPathComponent("data/digit-reader.safetensors").path,
                                                               npy.path, repository.appendingPathComponent("data/mnist").path]),
                             as: UTF8.self).split(separator: " ").map { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(recount.count == 2)
        #expect(json["read_right"] as? Double == recount.first ?? nil, "model: \(json["read_right"]!) against numpy's \(recount)")
        #expect((json["originals"] as? [String: Any])?["read_right"] as? Double == recount.last ?? nil,
                "originals: \(json["originals"]!) against numpy's \(recount)")

        let table = try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--first", "20"])
        #expect(table.status == 0 && table.stdout.contains("read right") && table.stdout.contains("originals"))

        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("no-reader.safetensors")
        expectRefusal(try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--reader", missing.path]), "no-reader.safetensors")
        var bytes = try [UInt8](Data(contentsOf: repository.appendingPathComponent("data/digit-reader.safetensors")))
        bytes.removeLast(1000)
        let truncated = folder.appendingPathComponent("truncated.safetensors")
        try Data(bytes).write(to: truncated)
        expectRefusal(try VAEProcess.run(["eval", "--checkpoint", Self.run.path, "--reader", truncated.path]), "truncated.safetensors")
        expectRefusal(try VAEProcess.run(["report", "--checkpoint", Self.run.path, "--reader", truncated.path, "--out", folder.path]),
                      "truncated.safetensors")
    }

    @Test func evalRefusesWeightsOfAnotherShape() throws {
        // A latent-3 run's checkpoint is fine for eval (the size is read off the tensors), but a
        // file missing a tensor is refused by name.
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let damaged = folder.appendingPathComponent("partial.safetensors")
        let script = """
        from safetensors.numpy import load_file, save_file
        import sys
        t = load_file(sys.argv[1]); del t["decoder.deconv2.kernel"]; save_file(t, sys.argv[2])
        """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", script,
                            Self.run.appendingPathComponent("checkpoints/step-000000016.safetensors").path, damaged.path]
        try python.run()
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)
        expectRefusal(try VAEProcess.run(["eval", "--checkpoint", damaged.path]), "partial.safetensors", "decoder.deconv2.kernel")
    }

    @Test func latentWritesAnSVG() throws {
        let svg = Self.run.appendingPathComponent("latent.svg")
        let result = try VAEProcess.run(["latent", "--checkpoint", Self.run.path, "--first", "300", "--out", svg.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.isWellFormedXML(svg))
        let text = try String(contentsOf: svg, encoding: .utf8)
        #expect(text.components(separatedBy: "<circle").count - 1 >= 300, "a point per digit")
        expectRefusal(try VAEProcess.run(["latent", "--checkpoint", Self.run.path, "--out", "x.png"]), ".svg")
    }

    @Test func runOutputsAreValidPicturesAndAPage() throws {
        let outputs = Self.run.appendingPathComponent("outputs")
        let sheet = try Image.read(outputs.appendingPathComponent("upscale.png"))
        #expect(sheet.width == (10 * (56 + 4) + 4) * 2 && sheet.height == (4 * (56 + 4) + 4) * 2)
        let (frames, _) = try GIF.read(outputs.appendingPathComponent("morph.gif"))
        #expect(frames.count == 25 && frames[0].width == 28 * 6)
        let strip = try Image.read(outputs.appendingPathComponent("morph-strip.png"))
        #expect(strip.width == (25 * 30 + 2) * 3)
        let manifold = try Image.read(outputs.appendingPathComponent("manifold.png"))
        #expect(manifold.width == 15 * 28 * 2 && manifold.height == 15 * 28 * 2)
        for svg in ["latent.svg", "losses.svg"] {
            #expect(try Self.isWellFormedXML(outputs.appendingPathComponent(svg)), "\(svg) is not well-formed XML")
        }
        let page = try String(contentsOf: outputs.appendingPathComponent("report.html"), encoding: .utf8)
        for name in ["upscale.png", "morph.gif", "morph-strip.png", "latent.svg", "manifold.png", "losses.svg", "bicubic", "PSNR",
                     "read right", "misread.png"] {
            #expect(page.contains(name), "report.html lacks \(name)")
        }
        // Two short epochs: plenty of upscales misread, the first few shown above their originals.
        let misread = try Image.read(outputs.appendingPathComponent("misread.png"))
        #expect(misread.width == (8 * (56 + 4) + 4) * 2 && misread.height == (2 * (56 + 4) + 4) * 2)
        let scores = try JSONSerialization.jsonObject(with: Data(contentsOf: outputs.appendingPathComponent("scores.json"))) as? [String: Any]
        #expect(scores?["read_right"] is Double && scores?["images"] as? Int == 10_000)
    }

    /// `vae report` on the first epoch's checkpoint: the same pictures, the curves only up to
    /// that epoch, and that checkpoint's model (its sheet differs from the final one's).
    @Test func reportOfAnEarlierCheckpoint() throws {
        let out = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let first = Self.run.appendingPathComponent("checkpoints/step-000000008.safetensors")
        let result = try VAEProcess.run(["report", "--checkpoint", first.path, "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        for name in ["upscale.png", "morph.gif", "morph-strip.png", "latent.svg", "manifold.png", "losses.svg", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) missing")
        }
        let page = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(page.contains("epoch 1 of 2, step 8"), "position of the checkpoint")
        let curves = try String(contentsOf: out.appendingPathComponent("losses.svg"), encoding: .utf8)
        let finalCurves = try String(contentsOf: Self.run.appendingPathComponent("outputs/losses.svg"), encoding: .utf8)
        #expect(curves != finalCurves, "the curves stop at the checkpoint's epoch")
        #expect(try Image.read(out.appendingPathComponent("upscale.png")) != Image.read(Self.run.appendingPathComponent("outputs/upscale.png")))
        expectRefusal(try VAEProcess.run(["report", "--checkpoint", out.appendingPathComponent("nothing").path, "--out", out.path]),
                      "nothing")
    }
}

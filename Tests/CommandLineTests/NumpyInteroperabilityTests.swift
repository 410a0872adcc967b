import Foundation
import Media
import Testing

/// A checkpoint read by Python's `safetensors`, run through an independent numpy forward pass
/// written from TensorFlow's definitions of the layers (its "same" padding arithmetic, the
/// Keras kernel layouts), gives what `vae upscale` gives.
struct NumpyInteroperabilityTests {
    static let script = #"""
    import sys
    import numpy as np
    from safetensors.numpy import load_file

    t = {k: v.astype(np.float64) for k, v in load_file(sys.argv[1]).items()}
    x = np.load(sys.argv[2]).astype(np.float64)[..., None]          # [N, 8, 8, 1]

    def same_padding(size, stride, out):                             # TF: the odd pixel goes after
        total = max((out - 1) * stride + 3 - size, 0)
        return total // 2, total - total // 2

    def conv2d(x, k, b, stride):                                     # k [3, 3, in, out]
        n, h, w, _ = x.shape
        oh, ow = -(-h // stride), -(-w // stride)
        (t_, b_), (l_, r_) = same_padding(h, stride, oh), same_padding(w, stride, ow)
        xp = np.pad(x, ((0, 0), (t_, b_), (l_, r_), (0, 0)))
        out = np.zeros((n, oh, ow, k.shape[3]))
        for ky in range(3):
            for kx in range(3):
                out += xp[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride, :] @ k[ky, kx]
        return out + b

    def conv2d_transpose(x, k, b, stride):                           # k [3, 3, out, in]
        n, h, w, _ = x.shape
        oh, ow = h * stride, w * stride
        full = np.zeros((n, (h - 1) * stride + 3, (w - 1) * stride + 3, k.shape[2]))
        for ky in range(3):
            for kx in range(3):
                full[:, ky:ky + stride * h:stride, kx:kx + stride * w:stride, :] += x @ k[ky, kx].T
        top = (3 - stride) // 2                                      # TF crops the padding, odd part after
        return full[:, top:top + oh, top:top + ow, :] + b

    relu = lambda v: np.maximum(v, 0)
    h = relu(conv2d(x, t["encoder.conv1.kernel"], t["encoder.conv1.bias"], 2))
    h = relu(conv2d(h, t["encoder.conv2.kernel"], t["encoder.conv2.bias"], 2))
    h = relu(h.reshape(len(x), -1) @ t["encoder.dense.kernel"] + t["encoder.dense.bias"])
    z = h @ t["encoder.z_mean.kernel"] + t["encoder.z_mean.bias"]
    d = relu(z @ t["decoder.dense.kernel"] + t["decoder.dense.bias"]).reshape(len(x), 7, 7, 64)
    d = relu(conv2d_transpose(d, t["decoder.deconv1.kernel"], t["decoder.deconv1.bias"], 2))
    d = relu(conv2d_transpose(d, t["decoder.deconv2.kernel"], t["decoder.deconv2.bias"], 2))
    d = conv2d_transpose(d, t["decoder.deconv3.kernel"], t["decoder.deconv3.bias"], 1)
    y = 1 / (1 + np.exp(-d[..., 0]))

    mine = np.load(sys.argv[3])
    assert mine.dtype == np.float32 and mine.shape == y.shape, (mine.dtype, mine.shape, y.shape)
    print(float(np.abs(mine - y).max()))
    """#

    /// The seed's shape, and another latent and encoder width (shapes the script reads off the tensors).
    @Test(arguments: [[], ["--latent-dim", "5", "--encoder-width", "40"]])
    func numpyForwardPassMatchesVaeUpscale(shape: [String]) throws {
        let folder = try VAEProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let train = try VAEProcess.run(["train", "--run-dir", folder.path, "--epochs", "1", "--limit", "512",
                                        "--test-images", "0"] + shape)
        #expect(train.status == 0, "\(train.stderr)")
        let checkpoint = folder.appendingPathComponent("checkpoints/step-000000004.safetensors")
        let upscaled = folder.appendingPathComponent("up.npy"), low = folder.appendingPathComponent("low.npy")
        let upscale = try VAEProcess.run(["upscale", "--checkpoint", checkpoint.path, "--first", "12",
                                          "--out", upscaled.path, "--save-lowres", low.path])
        #expect(upscale.status == 0, "\(upscale.stderr)")

        let python = try VAEProcess.launch(URL(fileURLWithPath: "/usr/bin/env"),
                                           ["python3", "-c", Self.script, checkpoint.path, low.path, upscaled.path], in: nil)
        #expect(python.status == 0, "numpy forward pass failed: \(python.stderr)")
        let difference = try #require(Double(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(python.stdout)")
        #expect(difference < 1e-5, "vae upscale and numpy differ by \(difference)")
    }
}

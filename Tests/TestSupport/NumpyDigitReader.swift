/// The digit reader's forward pass in numpy (float64), independent of the Swift layers: a
/// Python snippet defining `read(weights_path, images)` for `images` [n, 28, 28] in [0, 1],
/// which returns the digit read in each.
public let numpyDigitReader = """
import numpy as np
from safetensors.numpy import load_file

def _conv(x, kernel, bias):
    # x [n, h, w, c]; kernel [3, 3, c, out]; "same": one zero cell around.
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = bias.astype(np.float64) + sum(padded[:, ky:ky + h, kx:kx + w, :] @ kernel[ky, kx].astype(np.float64)
                                        for ky in range(3) for kx in range(3))
    return np.maximum(out, 0)

def _pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

def read(weights_path, images):
    t = load_file(weights_path)
    x = np.asarray(images, dtype=np.float64).reshape(-1, 28, 28, 1)
    x = _pool(_conv(x, t["conv1.kernel"], t["conv1.bias"]))
    x = _pool(_conv(x, t["conv2.kernel"], t["conv2.bias"]))
    x = np.maximum(x.reshape(len(x), -1) @ t["dense.kernel"].astype(np.float64) + t["dense.bias"], 0)
    return np.argmax(x @ t["logits.kernel"].astype(np.float64) + t["logits.bias"], axis=1)
"""

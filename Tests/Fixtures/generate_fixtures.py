"""Makes, or checks, the TensorFlow/Keras numbers the Swift tests compare against:

  Tests/DatasetTests/Fixtures/tf-downscale-train-0-9.json  smart_resize of training images 0..9
  Tests/ModelTests/Fixtures/keras-reference.safetensors    one batch through the seed's Keras model

Needs tensorflow-cpu==2.21.0, keras==3.15.1, numpy and safetensors, e.g. in a venv of its own:

  python3 -m venv .venv-fixtures
  .venv-fixtures/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1 numpy safetensors
  .venv-fixtures/bin/python Tests/Fixtures/generate_fixtures.py --check    # recompute and compare
  .venv-fixtures/bin/python Tests/Fixtures/generate_fixtures.py --write    # replace the fixtures

The Keras reference's inputs are MNIST test images 0..3; its weights (Glorot kernels, biases
drawn from N(0, 0.05) so that none is zero) and its eps are random. How the committed ones were
drawn was not recorded, so --check takes them from the committed file and recomputes everything
TensorFlow computes from them; --write draws new ones from --seed.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from mnist_idx import read_idx_images  # noqa: E402

MNIST = os.path.join(ROOT, "data", "mnist")
DOWNSCALE = os.path.join(ROOT, "Tests", "DatasetTests", "Fixtures", "tf-downscale-train-0-9.json")
REFERENCE = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "keras-reference.safetensors")
VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1"}
LATENT = 2
# The model's tensors in Keras's order, as the Swift side names them.
NAMES = [f"{part}.{kind}" for part in
         ["encoder.conv1", "encoder.conv2", "encoder.dense", "encoder.z_mean", "encoder.z_log_var",
          "decoder.dense", "decoder.deconv1", "decoder.deconv2", "decoder.deconv3"]
         for kind in ["kernel", "bias"]]


def downscale(images):
    """Keras's smart_resize to 8x8, bilinear (the seed's inputs), of uint8 28x28 images."""
    pixels = images.astype("float32")[..., None] / 255
    return np.asarray(keras.preprocessing.image.smart_resize(pixels, (8, 8), interpolation="bilinear"))[..., 0]


def downscale_fixture():
    images = read_idx_images(os.path.join(MNIST, "train-images-idx3-ubyte.gz"), 10)
    small = downscale(images)
    return {
        "what": "8x8 inputs made from MNIST training images 0..9 by TensorFlow's keras smart_resize(images/255, (8,8), "
                "interpolation='bilinear') (tf.image.resize, bilinear, half-pixel centers, no antialiasing). "
                "Row-major 8x8 per image.",
        "images": {str(i): [round(float(v), 7) for v in small[i].ravel()] for i in range(10)},
    }


def seed_model():
    """The write-up's encoder and decoder (its Sampling layer is done by hand, with a fixed eps)."""
    inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    encoder = keras.Model(inputs, [layers.Dense(LATENT)(x), layers.Dense(LATENT)(x)])
    latent = keras.Input(shape=(LATENT,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder = keras.Model(latent, layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x))
    return encoder, decoder


def reference_fixture(weights, eps, seed):
    """One training step of the seed's model on test images 0..3 from `weights` (name -> array,
    None for fresh ones drawn from `seed`) and `eps` (None likewise)."""
    images = read_idx_images(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz"), 4)
    x = downscale(images)
    y = images.astype("float32") / 255
    keras.utils.set_random_seed(seed)
    encoder, decoder = seed_model()
    variables = encoder.trainable_weights + decoder.trainable_weights
    if weights is None:
        rng = np.random.default_rng(seed)
        for v in variables:
            if "bias" in v.path:
                v.assign(rng.normal(0, 0.05, v.shape).astype("float32"))
        eps = rng.standard_normal((4, LATENT)).astype("float32")
    else:
        for name, v in zip(NAMES, variables):
            v.assign(weights[name])
    out = {name: v.numpy().copy() for name, v in zip(NAMES, variables)}

    with tf.GradientTape() as tape:
        z_mean, z_log_var = encoder(x[..., None])
        z = z_mean + tf.exp(0.5 * z_log_var) * eps
        reconstruction = decoder(z)
        reconstruction_loss = tf.reduce_mean(
            tf.reduce_sum(keras.losses.binary_crossentropy(y[..., None], reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
        kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
        total_loss = reconstruction_loss + kl_loss
    grads = tape.gradient(total_loss, variables)
    keras.optimizers.Adam().apply_gradients(zip(grads, variables))

    out.update({
        "ref.input_8x8": x, "ref.target_28x28": y, "ref.epsilon": np.asarray(eps, dtype="float32"),
        "ref.z_mean": z_mean.numpy(), "ref.z_log_var": z_log_var.numpy(), "ref.z": z.numpy(),
        "ref.reconstruction": reconstruction.numpy()[..., 0],
        "ref.losses": np.array([reconstruction_loss, kl_loss, total_loss], dtype="float32"),
    })
    for name, g, v in zip(NAMES, grads, variables):
        out["ref.grad." + name] = g.numpy()
        out["ref.after_one_adam_step." + name] = v.numpy()
    metadata = {
        "what": "Keras reference for the seed VAE: weights, one batch of 4 test images starting at index 0, fixed epsilon, "
                "outputs, loss [reconstruction, kl, total], gradients of total, and weights after one Adam step "
                "(Keras defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7)",
        "tensorflow": tf.__version__, "keras": keras.__version__, "latent_dim": str(LATENT),
    }
    return {k: np.ascontiguousarray(v, dtype="float32") for k, v in out.items()}, metadata


def compare(name, mine, committed):
    """Prints how far each tensor is from the committed one; returns the worst relative error."""
    worst = 0.0
    for key in sorted(set(mine) | set(committed)):
        if key not in mine or key not in committed or mine[key].shape != committed[key].shape:
            print(f"{name}: {key} missing or of another shape")
            worst = float("inf")
            continue
        a, b = mine[key].astype("float64"), committed[key].astype("float64")
        scale = max(np.abs(b).max(), 1e-30)
        error = np.abs(a - b).max() / scale
        worst = max(worst, error)
        print(f"{name}: {key:48s} max |diff| / max |value| = {error:.2e}")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="recompute and compare with the committed fixtures")
    mode.add_argument("--write", action="store_true", help="replace the committed fixtures")
    parser.add_argument("--seed", type=int, default=1, help="with --write: the seed of new weights and eps")
    args = parser.parse_args()
    found = {"tensorflow": tf.__version__, "keras": keras.__version__}
    if found != VERSIONS:
        print(f"warning: made with {VERSIONS}, running {found}", file=sys.stderr)

    small = downscale_fixture()
    if args.write:
        with open(DOWNSCALE, "w") as f:
            json.dump(small, f, indent=1)
            f.write("\n")
        tensors, metadata = reference_fixture(None, None, args.seed)
        save_file(tensors, REFERENCE, metadata=metadata)
        return
    with open(DOWNSCALE) as f:
        same = json.load(f) == small
    print(f"{os.path.relpath(DOWNSCALE, ROOT)}: {'identical' if same else 'DIFFERENT'}")
    committed = load_file(REFERENCE)
    tensors, _ = reference_fixture({k: committed[k] for k in NAMES}, committed["ref.epsilon"], args.seed)
    worst = compare(os.path.basename(REFERENCE), tensors, committed)
    print(f"worst relative error {worst:.2e} (float32 precision: 1e-5 or better)")
    sys.exit(0 if same and worst <= 1e-5 else 1)


if __name__ == "__main__":
    main()

"""Trains the digit reader `vae eval` uses to say whether an upscale still reads as its digit.

A small CNN on the 60,000 MNIST training digits (28x28, pixels / 255, as the model's targets):

  conv 3x3 same, 16, relu -> max-pool 2 -> conv 3x3 same, 32, relu -> max-pool 2
  -> flatten (7x7x32, HWC order) -> dense 64, relu -> dense 10 (logits)

Small on purpose: `vae eval` runs it in Swift on up to 40,000 images a call (the originals, two
interpolations and the model's upscales), about 2 million multiply-adds an image. It writes
data/digit-reader.safetensors (Keras layouts: conv kernels [3, 3, in, out], dense [in, out]),
whose data_sha256 `Sources/Evaluation/DigitReader.swift` pins: after a new training, put the
printed digest there.

Needs tensorflow-cpu==2.21.0, keras==3.15.1, numpy and safetensors, in a venv of its own:

  python3 -m venv .venv-reader
  .venv-reader/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1 numpy safetensors
  .venv-reader/bin/python bench/train_digit_reader.py            # about 2 minutes on 2 cores

Fixed seed and TensorFlow's deterministic ops, so a run on the same machine type gives the
same tensors, hence the same data_sha256 (checked here: two runs on the 2-core AMD EPYC Zen 5,
99.15% both times; safetensors orders the header's metadata keys as it likes).
"""
import argparse
import gzip
import hashlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from mnist_idx import read_idx_images  # noqa: E402

MNIST = os.path.join(ROOT, "data", "mnist")
OUT = os.path.join(ROOT, "data", "digit-reader.safetensors")
VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1"}
NAMES = ["conv1", "conv2", "dense", "logits"]


def read_labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if int.from_bytes(data[:4], "big") != 0x801:
        sys.exit(f"{path}: not an IDX file of labels")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype("int64")


def split(prefix, count):
    images = read_idx_images(os.path.join(MNIST, f"{prefix}-images-idx3-ubyte.gz"), count)
    labels = read_labels(os.path.join(MNIST, f"{prefix}-labels-idx1-ubyte.gz"))[:count]
    return images.astype("float32")[..., None] / 255, labels


def write_reader(tensors, metadata, path):
    """Saves with `data_sha256`, the SHA-256 of every byte after the header, as vae's own
    checkpoints carry it: vae checks the data against it, and it against the digest it pins."""
    save_file(tensors, path, metadata=metadata)
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data[8 + int.from_bytes(data[:8], "little"):]).hexdigest()
    save_file(tensors, path, metadata={**metadata, "data_sha256": digest})
    return digest


def reader():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    return keras.Model(inputs, layers.Dense(10, name="logits")(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    for module, version in [(tf, VERSIONS["tensorflow"]), (keras, VERSIONS["keras"])]:
        if module.__version__ != version:
            sys.exit(f"{module.__name__} {module.__version__} here; this script pins {version}")

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    train_x, train_y = split("train", 60000)
    test_x, test_y = split("t10k", 10000)
    model = reader()
    # A lower rate for the last epochs settles the weights: a few tenths of a point.
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 1e-3 if epoch < args.epochs - 4 else 3e-4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(train_x, train_y, batch_size=128, epochs=args.epochs, callbacks=[schedule], verbose=2)

    predicted = np.argmax(model.predict(test_x, batch_size=1000, verbose=0), axis=1)
    accuracy = float(np.mean(predicted == test_y))
    tensors = {}
    for name in NAMES:
        kernel, bias = model.get_layer(name).get_weights()
        tensors[f"{name}.kernel"] = np.ascontiguousarray(kernel, dtype="<f4")
        tensors[f"{name}.bias"] = np.ascontiguousarray(bias, dtype="<f4")
    metadata = {"what": "the digit reader of vae eval (bench/train_digit_reader.py)",
                "seed": str(args.seed), "epochs": str(args.epochs),
                "tensorflow": tf.__version__, "keras": keras.__version__,
                "test_accuracy": f"{accuracy:.4f}"}
    digest = write_reader(tensors, metadata, args.out)
    print(f"test accuracy {accuracy:.4f} ({int(round(accuracy * 10000))} of 10000 right)")
    print(f"wrote {args.out}, data_sha256 {digest}")
    if accuracy < 0.99:
        sys.exit("below the 99% the reader must reach")


if __name__ == "__main__":
    main()

"""The seed write-up's Keras VAE on TensorFlow, timed per epoch: the peer that launch/bench measures.

The model, the loss, the optimiser and the fit call are the write-up's code; only the data
loading differs (MNIST is read from the repository's gzip IDX file instead of being downloaded)
and training is limited to the first --images images and --epochs epochs.

    python bench/keras_seed.py [--images 60000] [--epochs 2] [--threads T] [--data DIR]
    python bench/keras_seed.py --precision bf16

--precision bf16 trains under Keras's "mixed_bfloat16" policy (bfloat16 computation, float32
weights and Adam), as Keras's mixed-precision guide has it: the output layer stays float32, so the
loss is computed in float32. Where the write-up's code would then mix dtypes, the sampling noise
takes the means' dtype and the KL term reads them cast to float32 (both no-ops in float32).

Prints "epoch N loss L" at each epoch's end, then one JSON line on stdout: peer, version,
images, epoch_seconds, images_per_second (of the last epoch), loss (of each epoch),
peak_rss_mib, import_rss_mib (after importing TensorFlow, before any data), processes, threads,
kernels, precision (the policy and the output layer's dtype, as the built model reports them).
"""
import argparse
import json
import os
import platform
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import numpy as np

from mnist_idx import read_idx_images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000, help="first N training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow intra- and inter-op threads (default: TensorFlow's own)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: Keras's mixed_bfloat16 policy (default: float32 throughout)")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "..", "data", "mnist"))
    args = parser.parse_args()
    if args.images < 1 or args.epochs < 1 or (args.threads is not None and args.threads < 1):
        sys.exit("keras_seed.py: --images, --epochs and --threads must be positive")

    import tensorflow as tf
    import keras
    from keras import layers

    tf.get_logger().setLevel("ERROR")
    if args.precision == "bf16":  # before any layer is built: each layer takes the policy at its creation
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    import_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the framework alone
    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    # ---- Data: the write-up's preparation, from the local IDX file --------------------------
    high_digit_train = read_idx_images(os.path.join(args.data, "train-images-idx3-ubyte.gz"), args.images)
    y_train = high_digit_train.astype("float32") / 255
    y_train = np.expand_dims(y_train, -1)
    small_size = (8, 8)
    x_train = tf.keras.preprocessing.image.smart_resize(y_train, small_size, interpolation="bilinear")
    x_train = np.asarray(x_train, dtype="float32")

    # ---- Model: the write-up's code ---------------------------------------------------------
    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = tf.shape(z_mean)[0]
            dim = tf.shape(z_mean)[1]
            # The means' dtype: bfloat16 under the mixed policy, where float32 noise would not add to them.
            epsilon = tf.keras.backend.random_normal(shape=(batch, dim), dtype=z_mean.dtype)
            return z_mean + tf.exp(0.5 * z_log_var) * epsilon

    latent_dim = 2
    input_shape = (8, 8, 1)

    encoder_inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    # float32 under either policy: the loss reads these probabilities (Keras's mixed-precision guide).
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same", dtype="float32")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [
                self.total_loss_tracker,
                self.reconstruction_loss_tracker,
                self.kl_loss_tracker,
            ]

        def train_step(self, data):
            x = data[0]
            y = data[1]
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(x)
                # The KL term in float32, beside the reconstruction term (a no-op in float32).
                z_mean, z_log_var = tf.cast(z_mean, "float32"), tf.cast(z_log_var, "float32")
                reconstruction = self.decoder(z)
                reconstruction_loss = tf.reduce_mean(
                    tf.reduce_sum(keras.losses.binary_crossentropy(y, reconstruction), axis=(1, 2))
                )
                kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
                kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {
                "loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result(),
            }

    # ---- Timing: wall clock of each epoch, from a callback ------------------------------------
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []
            self.losses = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)
            self.losses.append(float((logs or {}).get("loss", float("nan"))))
            # The line launch/bench's outside clock (bench/epoch_clock.py) times every contender by.
            print(f"epoch {epoch + 1}  loss {self.losses[-1]:.4f}", flush=True)

    timer = EpochTimer()
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    vae.fit(x_train, y_train, epochs=args.epochs, batch_size=128, verbose=0, callbacks=[timer])

    try:  # TensorFlow turns oneDNN on by default only on some x86 CPUs; ask it which it chose
        from tensorflow.python.util import _pywrap_util_port
        onednn = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):
        onednn = "unknown"
    policy = keras.mixed_precision.global_policy()
    print(json.dumps({
        "peer": "tensorflow",
        "version": f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "python": platform.python_version(),
        "images": args.images,
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        "images_per_second": args.images / timer.seconds[-1],
        "loss": timer.losses,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "import_rss_mib": import_rss_mib,
        "processes": 1,
        "threads": args.threads if args.threads is not None else "default",
        "kernels": f"Eigen, oneDNN {onednn} (TF_ENABLE_ONEDNN_OPTS="
                   f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')})",
        "precision": f"{policy.name} (compute {policy.compute_dtype}, variables {policy.variable_dtype}; "
                     f"output layer {decoder.layers[-1].compute_dtype})",
    }), flush=True)


if __name__ == "__main__":
    main()

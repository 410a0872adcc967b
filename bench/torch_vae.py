"""The seed's VAE in PyTorch, timed per epoch: the second peer that launch/bench measures.

Same shapes, padding, loss and optimiser as the Keras model (bench/keras_seed.py); the shapes are
read from `vae inspect --json` (its Keras tensor shapes and sides), so the two cannot drift apart:
- Keras "same" padding of a stride-2 3x3 convolution on an even size pads 0 before and 1 after
  (F.pad, then an unpadded convolution);
- Keras Conv2DTranspose(3, strides=2, "same") adds input x into outputs 2x + k (k = 0..2) and
  crops at 2n, which is an unpadded ConvTranspose2d with its last row and column dropped
  (PyTorch's padding=1, output_padding=1 would put it at 2x + k - 1); the stride-1 one pads 1;
- flatten and reshape in NHWC order, as Keras does, so Keras's weights load as they are
  (`load_keras_weights`);
- loss = mean over the batch of (per-image sum over the 784 pixels of binary cross-entropy of the
  sigmoid output, from the logits) + mean over the batch of the KL term summed over the latent;
- Adam(lr 1e-3, betas 0.9/0.999, eps 1e-7), Keras's defaults (PyTorch adds eps to the
  bias-corrected sqrt(v), Keras to the uncorrected one: the steps differ only where a gradient
  is near eps); batch 128, a fresh shuffle every epoch, the last partial batch kept.

    python bench/torch_vae.py [--images 60000] [--epochs 2] [--processes 1 --threads T]
        [--architecture FILE]   (`vae inspect --json`'s output; default: ask .build/release/vae)
    python bench/torch_vae.py --processes P      (P processes, gloo on 127.0.0.1, each 1 thread)
    python bench/torch_vae.py --compile [--channels-last]   (torch.compile; NHWC memory format)
    python bench/torch_vae.py --precision bf16   (with or without --compile)

--precision bf16 runs the forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16),
PyTorch's own mixed precision: products and convolutions in bfloat16, the weights and Adam in
float32, the loss computed in float32 from the logits and latent statistics cast back (no loss
scaling: bfloat16 has float32's range).

With P processes every global batch of 128 is split into P contiguous parts, one per process, and
DistributedDataParallel all-reduces the gradients each step; each part's loss is weighted so that
the averaged gradient is exactly that of the global batch mean.

Prints "epoch N loss L" at each epoch's end (rank 0), then one JSON line on stdout: peer,
version, images, epoch_seconds, images_per_second (of the last epoch), loss (each epoch's mean
over rank 0's images), peak_rss_mib (the largest process), peak_rss_mib_per_process,
import_rss_mib (rank 0 after importing PyTorch, before any data), processes, threads, kernels,
precision.
"""
import argparse
import json
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import time
import warnings

import numpy as np

from mnist_idx import read_idx_images
import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH_SIZE = 128
REPOSITORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read_architecture(path):
    """`vae inspect --json`: latent_dim, input_side, output_side and each tensor's Keras shape."""
    if path is None:
        text = subprocess.run([os.path.join(REPOSITORY, ".build", "release", "vae"), "inspect", "--json"],
                              check=True, capture_output=True, text=True).stdout
    else:
        with open(path) as f:
            text = f.read()
    architecture = json.loads(text)
    architecture["shapes"] = {t["name"]: t["shape"] for t in architecture["tensors"]}
    return architecture


def load_data(directory, count, side):
    """Targets [N,1,28,28] = pixels / 255 and inputs [N,1,8,8], TensorFlow's bilinear downscale
    (half-pixel centres, no antialiasing; for 28 -> 8 no sample falls outside the image, so
    PyTorch's align_corners=False bilinear samples the same points with the same weights)."""
    pixels = read_idx_images(os.path.join(directory, "train-images-idx3-ubyte.gz"), count)
    y = torch.from_numpy(pixels.astype(np.float32) / 255).unsqueeze(1)
    x = F.interpolate(y, size=(side, side), mode="bilinear", align_corners=False, antialias=False)
    return x.contiguous(), y.contiguous()


def conv(shape, **options):
    """Conv2D of Keras kernel shape [k, k, in, out]."""
    return nn.Conv2d(shape[2], shape[3], shape[0], **options)


def deconv(shape, **options):
    """Conv2DTranspose of Keras kernel shape [k, k, out, in]."""
    return nn.ConvTranspose2d(shape[3], shape[2], shape[0], **options)


class Encoder(nn.Module):
    def __init__(self, shapes):
        super().__init__()
        self.conv1 = conv(shapes["encoder.conv1.kernel"], stride=2)
        self.conv2 = conv(shapes["encoder.conv2.kernel"], stride=2)
        self.dense = nn.Linear(*shapes["encoder.dense.kernel"])
        self.z_mean = nn.Linear(*shapes["encoder.z_mean.kernel"])
        self.z_log_var = nn.Linear(*shapes["encoder.z_log_var.kernel"])

    def forward(self, x):                                       # x: [B,1,8,8]
        x = F.relu(self.conv1(F.pad(x, (0, 1, 0, 1))))         # [B,32,4,4]
        x = F.relu(self.conv2(F.pad(x, (0, 1, 0, 1))))         # [B,64,2,2]
        x = x.permute(0, 2, 3, 1).flatten(1)                    # Keras's NHWC flatten: [B,256]
        x = F.relu(self.dense(x))
        return self.z_mean(x), self.z_log_var(x)


class Decoder(nn.Module):
    def __init__(self, shapes, output_side):
        super().__init__()
        self.dense = nn.Linear(*shapes["decoder.dense.kernel"])
        self.deconv1 = deconv(shapes["decoder.deconv1.kernel"], stride=2)
        self.deconv2 = deconv(shapes["decoder.deconv2.kernel"], stride=2)
        last = shapes["decoder.deconv3.kernel"]
        self.deconv3 = deconv(last, stride=1, padding=last[0] // 2)
        self.side = output_side                                 # 28: the dense layer's grid is a quarter of it

    def forward(self, z):                                       # z: [B,L]; returns logits [B,1,28,28]
        x = F.relu(self.dense(z))
        quarter, half = self.side // 4, self.side // 2
        x = x.view(-1, quarter, quarter, self.deconv1.in_channels).permute(0, 3, 1, 2)  # Keras's NHWC reshape
        x = F.relu(self.deconv1(x)[:, :, :half, :half])        # 15x15, cropped as Keras does
        x = F.relu(self.deconv2(x)[:, :, :self.side, :self.side])  # 29x29 -> 28x28
        return self.deconv3(x)


class VAE(nn.Module):
    def __init__(self, architecture):
        super().__init__()
        self.encoder = Encoder(architecture["shapes"])
        self.decoder = Decoder(architecture["shapes"], architecture["output_side"])

    def forward(self, x, eps=None):
        z_mean, z_log_var = self.encoder(x)
        if eps is None:
            eps = torch.randn_like(z_mean)
        z = z_mean + torch.exp(0.5 * z_log_var) * eps
        return z_mean, z_log_var, z, self.decoder(z)


def per_image_losses(model, x, y):
    """Reconstruction and KL of each image, [B] each, in float32 whatever dtype autocast ran the model in."""
    z_mean, z_log_var, _, logits = model(x)
    z_mean, z_log_var, logits = z_mean.float(), z_log_var.float(), logits.float()
    reconstruction = F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(dim=(1, 2, 3))
    kl = (-0.5 * (1 + z_log_var - z_mean.square() - z_log_var.exp())).sum(dim=1)
    return reconstruction, kl


def load_keras_weights(model, weights):
    """Copies Keras-layout tensors (dict name -> array, names as SPEC.md's `encoder.conv1.kernel`)
    into the model: Conv2D [kh,kw,in,out] -> [out,in,kh,kw]; Conv2DTranspose [kh,kw,out,in] ->
    [in,out,kh,kw]; Dense [in,out] -> [out,in]."""
    layouts = {
        "encoder.conv1": (3, 2, 0, 1), "encoder.conv2": (3, 2, 0, 1),
        "decoder.deconv1": (3, 2, 0, 1), "decoder.deconv2": (3, 2, 0, 1), "decoder.deconv3": (3, 2, 0, 1),
        "encoder.dense": (1, 0), "encoder.z_mean": (1, 0), "encoder.z_log_var": (1, 0), "decoder.dense": (1, 0),
    }
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, order in layouts.items():
            module = modules[name]
            kernel = torch.as_tensor(np.ascontiguousarray(np.transpose(weights[name + ".kernel"], order)))
            module.weight.copy_(kernel)
            module.bias.copy_(torch.as_tensor(np.array(weights[name + ".bias"], dtype=np.float32)))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(rank, world, args, port):
    """One process's training loop; rank 0 prints the JSON line."""
    import_rss_mib = peak_rss_mib()                             # the framework alone
    torch.set_num_threads(args.threads)
    # conv1's kernel [32,1,3,3] has two valid stride layouts; DDP warns about it, harmlessly.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    distributed = world > 1
    if distributed:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(args.seed + rank)                         # each process its own noise
    x, y = load_data(args.data, args.images, args.architecture["input_side"])
    model = VAE(args.architecture)                              # PyTorch's default initialisation
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
    if distributed:
        model = DistributedDataParallel(model)                  # broadcasts rank 0's weights
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    losses_of = torch.compile(per_image_losses) if args.compile else per_image_losses
    shuffle = torch.Generator().manual_seed(args.seed)         # the same order in every process

    seconds, losses = [], []
    for epoch in range(args.epochs):
        if distributed:
            dist.barrier()
        start = time.perf_counter()
        order = torch.randperm(args.images, generator=shuffle)
        total, count = 0.0, 0
        for first in range(0, args.images, BATCH_SIZE):
            batch = order[first:first + BATCH_SIZE]
            part = torch.tensor_split(batch, world)[rank]       # this process's share
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                reconstruction, kl = losses_of(model, x[part], y[part])
            # Loss of the whole batch is sum / len(batch); DDP averages over `world` processes.
            loss = (reconstruction + kl).sum() * (world / len(batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float((reconstruction + kl).detach().sum())
            count += len(part)
        if distributed:
            dist.barrier()
        seconds.append(time.perf_counter() - start)
        losses.append(total / count)  # mean loss of this process's images
        if rank == 0:  # the line launch/bench's outside clock (bench/epoch_clock.py) times every contender by
            print(f"epoch {epoch + 1}  loss {losses[-1]:.4f}", flush=True)

    peaks = [peak_rss_mib()]
    if distributed:
        gathered = [None] * world
        dist.all_gather_object(gathered, peak_rss_mib())
        peaks = gathered
        dist.destroy_process_group()
    if rank == 0:
        config = torch.__config__.show()
        blas = re.search(r"BLAS_INFO=(\w+)", config)
        onednn = re.search(r"MKL-DNN (v[\d.]+)", config)
        line = json.dumps({
            "peer": "pytorch",
            "version": f"PyTorch {torch.__version__}",
            "python": platform.python_version(),
            "images": args.images,
            "epoch_seconds": [round(s, 3) for s in seconds],
            "images_per_second": args.images / seconds[-1],
            "loss": losses,
            "peak_rss_mib": max(peaks),
            "peak_rss_mib_per_process": peaks,
            "import_rss_mib": import_rss_mib,
            "processes": world,
            "threads": args.threads,
            "compiled": args.compile,
            "channels_last": args.channels_last,
            "precision": "float32" if args.precision == "fp32" else "autocast to bfloat16, the loss in float32",
            "kernels": f"BLAS {blas.group(1) if blas else 'unknown'}, "
                       f"oneDNN {onednn.group(1) if onednn and torch.backends.mkldnn.is_available() else 'off'}, "
                       f"CPU capability {torch.backends.cpu.get_cpu_capability()}",
        })
        print(line, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000, help="first N training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per process (default: every core for 1 process, 1 for several)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compile", action="store_true",
                        help="forward and loss under torch.compile (Inductor; the backward is compiled with it)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: forward and loss under torch.autocast to bfloat16 (default: float32 throughout)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format for images and weights")
    parser.add_argument("--data", default=os.path.join(REPOSITORY, "data", "mnist"))
    parser.add_argument("--architecture", default=None, help="`vae inspect --json`'s output (default: ask .build/release/vae)")
    args = parser.parse_args()
    args.architecture = read_architecture(args.architecture)
    if args.threads is None:
        args.threads = (os.cpu_count() or 1) if args.processes == 1 else 1
    if min(args.images, args.epochs, args.processes, args.threads) < 1:
        sys.exit("torch_vae.py: --images, --epochs, --processes and --threads must be positive")
    if args.processes == 1:
        train(0, 1, args, None)
    else:
        import torch.multiprocessing as mp
        mp.spawn(train, args=(args.processes, args, free_port()), nprocs=args.processes, join=True)


if __name__ == "__main__":
    main()

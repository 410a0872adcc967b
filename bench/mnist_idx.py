"""MNIST's gzip IDX images for the peer benchmarks, read with numpy alone (no downloads)."""
import gzip
import sys

import numpy as np


def read_idx_images(path, count):
    """The first `count` images of a gzip (or raw) IDX3 file, as uint8 [count, rows, cols]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, total, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != 0x803:
        sys.exit(f"{path}: not an IDX file of uint8 images (magic {magic:#x})")
    if count > total:
        sys.exit(f"{path}: asked for {count} images, the file has {total}")
    pixels = np.frombuffer(data, dtype=np.uint8, count=count * rows * cols, offset=16)
    return pixels.reshape(count, rows, cols)

"""MNIST from the original IDX files, or through tensorflow_datasets.

Order of preference: the four IDX files in ``--data_dir`` (gzipped or not);
a tfds copy already prepared in ``--data_dir`` (or tfds' default location);
a tfds download where the network allows it. If none works the user gets one
line saying how to get the data.
"""

from __future__ import annotations

import numpy as np

from gan_zoo.datasets import idx, tfds_util
from gan_zoo.datasets.base import ArraySource
from gan_zoo.errors import UserError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The GAN paper's code trained on training digits [0, 50000) and validated on
# [50000, 60000); the Parzen protocol picks its kernel width on that hold-out.
PAPER_TRAIN_SIZE = 50000

_HOW_TO_GET = (
    "download the four files from http://yann.lecun.com/exdb/mnist/ "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) and pass their directory "
    "as --data_dir, or use --dataset=digits (embedded, no download)"
)


def load(config) -> ArraySource:
    """The MNIST Source; ``config.paper_split`` adds the 50k/10k train/validation split."""
    data_dir = config.data_dir
    arrays = _read_idx_dir(data_dir) if data_dir else None
    if arrays is None:
        arrays = _read_tfds(data_dir or None)
    return make_source("mnist", arrays, config.paper_split)


def make_source(name: str, arrays: dict, paper_split: bool) -> ArraySource:
    """Builds the Source from full train/test arrays, applying the paper's split if asked."""
    splits = dict(arrays)
    if paper_split:
        images, labels = arrays["train"]
        splits["train"] = (images[:PAPER_TRAIN_SIZE], labels[:PAPER_TRAIN_SIZE])
        splits["validation"] = (images[PAPER_TRAIN_SIZE:], labels[PAPER_TRAIN_SIZE:])
    return ArraySource(name, splits, num_classes=10)


def _read_idx_dir(data_dir: str):
    """{split: (images, labels)} from IDX files, or None if the directory has none."""
    found = {split: [idx.find(data_dir, stem) for stem in stems] for split, stems in FILES.items()}
    paths = [p for pair in found.values() for p in pair]
    if not any(paths):
        return None
    if not all(paths):
        missing = [
            stem
            for split, stems in FILES.items()
            for stem, path in zip(stems, found[split])
            if path is None
        ]
        raise UserError(
            f"--data_dir={data_dir} has some MNIST IDX files but lacks "
            f"{', '.join(missing)}(.gz); {_HOW_TO_GET}."
        )
    arrays = {}
    for split, (image_path, label_path) in found.items():
        images, labels = idx.read_idx(image_path), idx.read_idx(label_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserError(
                f"{image_path} and {label_path} do not form an MNIST split "
                f"(shapes {images.shape}, {labels.shape})."
            )
        arrays[split] = (images, labels.astype(np.int32))
    return arrays


def _read_tfds(data_dir: str | None):
    import tensorflow_datasets as tfds

    builder = tfds_util.prepared_builder(
        "mnist", data_dir or "", "storage.googleapis.com", _HOW_TO_GET
    )
    arrays = {}
    for split in ("train", "test"):
        data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        arrays[split] = (data["image"][..., 0], data["label"].astype(np.int32))
    return arrays

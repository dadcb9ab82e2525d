"""The embedded digits: 9,000 real MNIST training digits and 1,000 test digits.

Shipped inside the package (gan_zoo/data/digits.npz, 1.6 MB) so that the
default ``python train.py`` runs offline on real data. They are MNIST's first
9,000 training images and first 1,000 test images, unchanged.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from gan_zoo.datasets.base import ArraySource
from gan_zoo.errors import UserError

PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "digits.npz")


def load(config=None) -> ArraySource:
    if config is not None and config.paper_split:
        raise UserError(
            "--paper_split applies to --dataset=mnist only; the embedded digits "
            "have just train and test splits."
        )
    return ArraySource("digits", dict(_splits()), num_classes=10)


@functools.cache
def _splits() -> dict:
    """The decompressed arrays, read once per process (read-only, as they are
    shared by every source this module returns)."""
    with np.load(PATH) as f:
        splits = {
            "train": (f["train_images"], f["train_labels"]),
            "test": (f["test_images"], f["test_labels"]),
        }
    for arrays in splits.values():
        for array in arrays:
            array.flags.writeable = False
    return splits

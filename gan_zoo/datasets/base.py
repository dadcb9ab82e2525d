"""What every dataset gives the training pipeline: uint8 images and labels per split."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError


class Source:
    """A dataset: named splits of uint8 NHWC images with optional int labels.

    Subclasses that stream from disk override :meth:`dataset` and
    :meth:`num_examples`; in-memory data uses :class:`ArraySource`.
    """

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int  # 0 for unlabelled data

    # Streams cap the shuffle buffer: it holds decoded images (0.7 GB for
    # 60k at 64x64x3) and must fill before the first batch.
    shuffle_buffer: int = 10000
    # Whether dataset() already serves arrays held in memory (nothing to cache).
    in_memory: bool = False

    def split_names(self) -> list[str]:
        raise NotImplementedError

    def num_examples(self, split: str) -> int:
        raise NotImplementedError

    def dataset(self, split: str) -> tf.data.Dataset:
        """Unbatched elements ``{"image": uint8[H, W, C], "label": int32[]}``."""
        raise NotImplementedError

    def pixel_mean(self, split: str = "train", limit: int = 10000) -> np.ndarray:
        """Mean image in [0, 1] over (up to ``limit`` of) the split's examples."""
        total, count = None, 0
        for batch in self.dataset(split).take(limit).batch(1000).as_numpy_iterator():
            images = batch["image"].astype(np.float64) / 255.0
            total = images.sum(0) if total is None else total + images.sum(0)
            count += len(images)
        return (total / count).astype(np.float32)

    def _check_split(self, split: str) -> None:
        if split not in self.split_names():
            raise UserError(
                f"dataset {self.name!r} has no split {split!r}; it has: "
                f"{', '.join(self.split_names())}."
            )


class FlatFileSource(Source):
    """A "train"-only, unlabelled Source streamed from a flat file of decoded
    uint8 images ([N, H, W, C] back to back), read in chunks through a memory
    map: no decoding, so it feeds a GPU where decoding the originals cannot."""

    def __init__(self, name: str, path: str, count: int, image_shape, max_examples: int = 0):
        self.name, self.num_classes = name, 0
        self.image_shape = tuple(image_shape)
        self._path, self._count, self._max_examples = path, count, max_examples

    def split_names(self) -> list[str]:
        return ["train"]

    def num_examples(self, split: str) -> int:
        self._check_split(split)
        return min(self._count, self._max_examples) if self._max_examples else self._count

    def dataset(self, split: str) -> tf.data.Dataset:
        n, shape = self.num_examples(split), self.image_shape

        def chunks():
            images = np.memmap(self._path, np.uint8, "r", shape=(self._count,) + shape)
            for start in range(0, n, 1024):
                yield np.array(images[start : min(start + 1024, n)])

        spec = tf.TensorSpec((None,) + shape, tf.uint8)
        ds = tf.data.Dataset.from_generator(chunks, output_signature=spec).unbatch()
        return ds.map(lambda image: {"image": image, "label": tf.constant(-1, tf.int32)})


class ArraySource(Source):
    """A dataset small enough to hold in memory as numpy arrays."""

    def __init__(
        self, name: str, splits: dict[str, tuple[np.ndarray, np.ndarray | None]], num_classes: int
    ):
        self.name = name
        self.num_classes = num_classes
        self._splits = {}
        for split, (images, labels) in splits.items():
            images = np.asarray(images, np.uint8)
            if images.ndim == 3:
                images = images[..., None]
            if labels is None:
                labels = np.full(len(images), -1, np.int32)
            self._splits[split] = (images, np.asarray(labels, np.int32))
        self.image_shape = tuple(next(iter(self._splits.values()))[0].shape[1:])
        self.shuffle_buffer = max(len(images) for images, _ in self._splits.values())
        self.in_memory = True

    def split_names(self) -> list[str]:
        return list(self._splits)

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images NHWC, int32 labels) of a split."""
        self._check_split(split)
        return self._splits[split]

    def num_examples(self, split: str) -> int:
        return len(self.arrays(split)[0])

    def dataset(self, split: str) -> tf.data.Dataset:
        images, labels = self.arrays(split)
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})

    def pixel_mean(self, split: str = "train", limit: int = 10000) -> np.ndarray:
        images = self.arrays(split)[0][:limit]
        return (images.astype(np.float64).mean(0) / 255.0).astype(np.float32)


def load_labelled(source, split: str, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of a dataset split.

    Args:
      source: a gan_zoo dataset ``Source``.
      split: e.g. "train", "test".
      limit: keep only the first this many examples (0 = all).

    Returns:
      (uint8 [N, H, W, C], int32 [N]).

    Raises:
      UserError: the dataset has no labels.
    """
    if not getattr(source, "num_classes", 0):
        raise UserError(
            f"dataset {source.name!r} has no class labels; use a labelled dataset "
            "such as mnist or digits."
        )
    if hasattr(source, "arrays"):
        images, labels = source.arrays(split)
        if limit:
            images, labels = images[:limit], labels[:limit]
    else:
        ds = source.dataset(split)
        if limit:
            ds = ds.take(limit)
        parts = list(ds.batch(1024).as_numpy_iterator())
        if not parts:
            raise UserError(f"the {split} split of {source.name!r} is empty.")
        images = np.concatenate([p["image"] for p in parts])
        labels = np.concatenate([p["label"] for p in parts])
    if len(labels) == 0:
        raise UserError(f"the {split} split of {source.name!r} is empty.")
    if labels.min() < 0:
        raise UserError(f"the {split} split of {source.name!r} has unlabelled examples.")
    return np.asarray(images, np.uint8), np.asarray(labels, np.int32)

"""CelebA and CIFAR-10 through tensorflow_datasets, streamed and square-cropped.

A copy already prepared in ``--data_dir`` (or tfds' default location) is
used; otherwise tfds downloads it where the network allows, and the user gets
one line saying how to get it where it does not.

CelebA's aligned faces are 178 wide and 218 tall. We keep the central
178 x 178 square (the short side, like every image dataset here) and resize
it; that keeps the whole head and some background. The other common recipe,
DCGAN-tensorflow's 108 x 108 crop of the face alone, is not what this does.
CelebA is used unlabelled (its 40 attributes are not a class).
"""

from __future__ import annotations

import tensorflow as tf

from gan_zoo.datasets import images
from gan_zoo.datasets.base import Source
from gan_zoo.datasets.tfds_util import prepared_builder


def load_celeb_a(config) -> TfdsSource:
    """CelebA (tfds ``celeb_a``): splits train, validation, test; unlabelled.

    Args:
      config: reads ``data_dir``, ``image_size`` and ``max_examples``.

    Returns:
      A TfdsSource of ``image_size`` x ``image_size`` RGB faces, labels -1.

    Raises:
      UserError: if the data is not there and cannot be downloaded.
    """
    how_to = (
        "run `tfds build celeb_a --data_dir=DIR` where there is network and pass "
        "--data_dir=DIR, or unzip img_align_celeba.zip from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and read that folder with "
        "--dataset=image_folder"
    )
    builder = prepared_builder("celeb_a", config.data_dir, "drive.google.com", how_to)
    return TfdsSource(
        "celeb_a",
        builder,
        ("train", "validation", "test"),
        config.image_size,
        num_classes=0,
        max_examples=config.max_examples,
    )


# Goodfellow et al.'s CIFAR-10 configurations trained on training images
# 0-40,000 and monitored 40,000-50,000 (pylearn2's CIFAR10 start / stop).
CIFAR10_PAPER_TRAIN_SIZE = 40000


def load_cifar10(config) -> TfdsSource:
    """CIFAR-10 (tfds ``cifar10``): splits train and test; labels 0-9. With
    ``paper_split``, train is images 0-40,000 and validation 40,000-50,000.

    Args:
      config: reads ``data_dir``, ``image_size``, ``max_examples`` and ``paper_split``.

    Returns:
      A TfdsSource of ``image_size`` x ``image_size`` RGB images (resized
      from 32 x 32 when ``image_size`` differs).

    Raises:
      UserError: if the data is not there and cannot be downloaded.
    """
    how_to = (
        "run `tfds build cifar10 --data_dir=DIR` where there is network and pass --data_dir=DIR"
    )
    builder = prepared_builder("cifar10", config.data_dir, "www.cs.toronto.edu", how_to)
    splits = ("train", "test")
    if config.paper_split:
        cut = CIFAR10_PAPER_TRAIN_SIZE
        splits = {"train": f"train[:{cut}]", "validation": f"train[{cut}:]", "test": "test"}
    return TfdsSource(
        "cifar10",
        builder,
        splits,
        config.image_size,
        num_classes=10,
        max_examples=config.max_examples,
    )


class TfdsSource(Source):
    """Images of a prepared tfds builder, square-cropped to ``image_size`` as they stream."""

    def __init__(
        self,
        name: str,
        builder,
        splits: tuple[str, ...],
        image_size: int,
        num_classes: int,
        max_examples: int = 0,
    ):
        """
        Args:
          name: the dataset's name, for messages.
          builder: a tfds DatasetBuilder whose data is prepared.
          splits: the split names to offer, or {name: tfds split (a slice such
            as "train[:40000]")}.
          image_size: side of the output images.
          num_classes: 0 to ignore tfds' labels (every label -1), else their count.
          max_examples: if > 0, use at most this many examples of a split.
        """
        self.name = name
        self.image_shape = (image_size, image_size, 3)
        self.num_classes = num_classes
        self._builder = builder
        self._splits = dict(splits) if isinstance(splits, dict) else {s: s for s in splits}
        self._max_examples = max_examples

    def split_names(self) -> list[str]:
        return list(self._splits)

    def num_examples(self, split: str) -> int:
        self._check_split(split)
        # The stream's own cardinality, which tfds asserts; the split metadata
        # is the fallback (and is what tfds' mock data lacks).
        n = int(self._raw(split).cardinality())
        if n < 0:
            n = self._builder.info.splits[self._splits[split]].num_examples
        return min(n, self._max_examples) if self._max_examples else n

    def dataset(self, split: str) -> tf.data.Dataset:
        self._check_split(split)
        size, labelled = self.image_shape[0], self.num_classes > 0

        def convert(example):
            label = tf.cast(example["label"], tf.int32) if labelled else tf.constant(-1, tf.int32)
            return {"image": images.center_square(example["image"], size), "label": label}

        ds = self._raw(split)
        if self._max_examples:
            ds = ds.take(self._max_examples)
        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    def _raw(self, split: str) -> tf.data.Dataset:
        return self._builder.as_dataset(split=self._splits[split], shuffle_files=False)

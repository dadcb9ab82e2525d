"""tf.data input pipelines: shuffle, batch, scale to the model's range, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan_zoo.datasets.base import Source
from gan_zoo.errors import UserError


def scale_images(images: tf.Tensor, value_range: tuple[float, float]) -> tf.Tensor:
    """uint8 [0, 255] -> float32 in ``value_range`` (e.g. (0, 1) or (-1, 1))."""
    low, high = value_range
    return tf.cast(images, tf.float32) * ((high - low) / 255.0) + low


def _frame(source: int, target: int) -> tuple[int, int]:
    """(frame, factor) with frame * factor == target, factor a power of two and
    frame the smallest such size that still holds ``source`` pixels."""
    factor = 1
    while target % (2 * factor) == 0 and target // (2 * factor) >= source:
        factor *= 2
    return target // factor, factor


def resize_images(images: tf.Tensor, image_shape) -> tf.Tensor:
    """Float images [B, H, W, C] -> [B, h, w, C], the size a model works at.

    Fixed-size datasets meet models of another size: 28-pixel digits and a
    32 or 64 pixel DCGAN. Growing pads first and resamples only by powers of
    two: a digit goes into a 32-pixel frame by two background pixels (0, so
    call this before scaling to the model's range) on each side, as LeCun et
    al. (1998) fed MNIST to LeNet-5, then doubles (bilinear) for 64 or 128.
    So :func:`to_data_size` undoes it exactly at 32 pixels. Resampling 28 ->
    32 -> 28 instead blurs the digits enough that the MNIST classifier's FID
    of the real training digits rose from 0.9 to 29, which hid any DCGAN's
    quality. Shrinking resizes (bilinear, antialiased).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    have_h, have_w = int(images.shape[1]), int(images.shape[2])
    if (have_h, have_w) == (height, width):
        return images
    if height < have_h or width < have_w:
        return tf.image.resize(images, (height, width), method="bilinear", antialias=True)
    (frame_h, up_h), (frame_w, up_w) = _frame(have_h, height), _frame(have_w, width)
    top, left = (frame_h - have_h) // 2, (frame_w - have_w) // 2
    images = tf.pad(
        images, [[0, 0], [top, frame_h - have_h - top], [left, frame_w - have_w - left], [0, 0]]
    )
    if (up_h, up_w) != (1, 1):
        images = tf.image.resize(images, (height, width), method="bilinear")
    return images


def to_data_size(images, data_shape):
    """Images at a model's size -> the data's size, undoing :func:`resize_images`
    (area-downsampled to the frame, then the padding cropped), so samples are
    scored against real images of the data's own size."""
    images = tf.convert_to_tensor(images, tf.float32)
    height, width = int(data_shape[0]), int(data_shape[1])
    have_h, have_w = int(images.shape[1]), int(images.shape[2])
    if (have_h, have_w) == (height, width):
        return images
    if have_h < height or have_w < width:
        return tf.image.resize(images, (height, width), method="bilinear")
    (frame_h, up_h), (frame_w, up_w) = _frame(height, have_h), _frame(width, have_w)
    if (up_h, up_w) != (1, 1):
        images = tf.image.resize(images, (frame_h, frame_w), method="area")
    top, left = (frame_h - height) // 2, (frame_w - width) // 2
    return images[:, top : top + height, left : left + width, :]


def model_images(images: tf.Tensor, value_range, image_shape=None) -> tf.Tensor:
    """uint8 batches -> what the model trains on: its size, then its pixel range
    (in that order, so padding is the data's black background)."""
    if image_shape is not None:
        images = resize_images(tf.cast(images, tf.float32), image_shape)
    return scale_images(images, value_range)


def plain(fn):
    """``fn`` for Dataset.map and filter, traced as written instead of
    converted by AutoGraph: the functions here branch only on Python values
    (static shapes), and conversion re-reads source files and costs start-up
    time (see gan_zoo.signatures.traced)."""
    return tf.autograph.experimental.do_not_convert(fn)


def _capped(source: Source, split: str, max_examples: int):
    """(the split's unbatched dataset, its size), both cut to ``max_examples`` if > 0."""
    ds, n = source.dataset(split), source.num_examples(split)
    if max_examples:
        ds, n = ds.take(max_examples), min(n, max_examples)
    return ds, n


# Decoded training images up to this size stay in memory after the first
# pass (tf.data cache), so later epochs skip reading, decoding and resizing:
# CIFAR-10 or an image folder do, LSUN's millions of bedrooms do not.
CACHE_LIMIT_BYTES = 2 << 30


def training_dataset(
    source: Source,
    split: str,
    batch_size: int,
    value_range: tuple[float, float],
    seed: int,
    image_shape=None,
    max_examples: int = 0,
    skip_batches: int = 0,
):
    """An endless, reshuffled-every-pass stream of training batches.

    Batches are cut from one shuffled pass at a time, so ``steps_per_epoch``
    consecutive batches are exactly one pass over the data (the last partial
    batch is dropped), which keeps "epoch" meaning what it says.

    Args:
      source: the dataset.
      split: which split to read.
      batch_size: examples per element (for a GAN with k discriminator steps,
        k times the minibatch size).
      value_range: the model's declared pixel range.
      seed: shuffle seed.
      image_shape: (H, W, C) the model works at; images are resized to it.
      max_examples: if > 0, use only the first this many examples.
      skip_batches: start this many batches into the stream. The order is a
        fixed function of ``seed``, so a run resumed after n steps with
        ``skip_batches=n`` sees exactly the batches the uninterrupted run
        would have; batches are skipped before they are decoded or scaled.

    Returns:
      (dataset of {"image": float32[B,H,W,C], "label": int32[B]}, steps_per_epoch)
    """
    image_shape = tuple(image_shape or source.image_shape)
    if image_shape[-1] != source.image_shape[-1]:
        raise UserError(
            f"the model expects {image_shape[-1]}-channel images but "
            f"{source.name!r} has {source.image_shape[-1]}."
        )
    ds, n = _capped(source, split, max_examples)
    steps = n // batch_size
    if steps == 0:
        raise UserError(
            f"the {split} split of {source.name!r} has {n} examples, fewer than one "
            f"step needs ({batch_size}); lower --batch_size or --d_steps."
        )
    if not source.in_memory and n * int(np.prod(source.image_shape)) <= CACHE_LIMIT_BYTES:
        ds = ds.cache()
    if split == "train":
        ds = ds.shuffle(min(n, source.shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True).repeat().skip(skip_batches)
    ds = ds.map(
        plain(
            lambda b: {
                "image": model_images(b["image"], value_range, image_shape),
                "label": b["label"],
            }
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.prefetch(tf.data.AUTOTUNE).with_options(WITHOUT_AUTOTUNING), steps


# tf.data's autotuning thread sleeps between optimisation rounds whose period
# doubles from 10 ms up to a minute, and an iterator's destructor waits for it
# to wake, so a `fit` call (whose end destroys its iterator) could take up to
# twice its length; see the README's benchmarks. Without autotuning, AUTOTUNE
# still picks a parallelism, and the input pipeline was as fast.
WITHOUT_AUTOTUNING = tf.data.Options()
WITHOUT_AUTOTUNING.autotune.enabled = False


def balanced_subset(labels, num: int, num_classes: int, seed: int) -> np.ndarray:
    """Sorted indices of ``num`` examples, ``num / num_classes`` of every class,
    picked at random with ``seed`` (the semi-supervised papers' labelled set).

    Raises:
      UserError: ``num`` is not a multiple of ``num_classes``, or a class has
        too few examples.
    """
    labels = np.asarray(labels)
    if num % num_classes:
        raise UserError(
            f"--num_labels={num} must be a multiple of the {num_classes} classes "
            "(the labelled set has the same number of each)."
        )
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < num // num_classes:
            raise UserError(
                f"class {c} has only {len(members)} training examples, fewer than "
                f"the {num // num_classes} that --num_labels={num} needs per class."
            )
        picked.append(rng.choice(members, num // num_classes, replace=False))
    return np.sort(np.concatenate(picked))


def with_labelled_stream(
    dataset,
    source: Source,
    num_labels: int,
    batch_size: int,
    value_range,
    seed: int,
    image_shape=None,
    max_examples: int = 0,
    skip_batches: int = 0,
):
    """Adds a labelled minibatch to every element of ``dataset``, for models
    with a supervised phase on few labels (aae_semi_supervised).

    The labelled stream cycles, reshuffled every pass, through ``num_labels``
    class-balanced training examples (0 = all of them); its batches are
    independent of the unlabelled ones. The unlabelled batches lose their
    labels (-1), so only the supervised phase can ever read one.
    ``skip_batches`` resumes both streams where a run stopped (see
    :func:`training_dataset`).

    Returns:
      dataset of {"image", "label" (all -1), "labelled_image", "labelled_label"}.
    """
    if not source.num_classes:
        raise UserError(f"{source.name!r} has no labels for a labelled subset.")
    labelled, n = _capped(source, "train", max_examples)
    if num_labels:
        labels = np.concatenate(
            list(labelled.map(plain(lambda e: e["label"])).batch(10000).as_numpy_iterator())
        )
        keep = tf.constant(balanced_subset(labels, num_labels, source.num_classes, seed), tf.int64)

        def chosen(index, element):
            del element
            return tf.reduce_any(tf.equal(index, keep))

        labelled = labelled.enumerate().filter(plain(chosen)).map(plain(lambda _, e: e)).cache()
        n = num_labels
    # A different seed from the unlabelled stream's, so the two orders differ.
    labelled = labelled.shuffle(
        min(n, source.shuffle_buffer), seed=seed + 1, reshuffle_each_iteration=True
    ).repeat()
    labelled = (
        labelled.batch(batch_size, drop_remainder=True)
        .skip(skip_batches)
        .map(
            plain(
                lambda b: {
                    "labelled_image": model_images(b["image"], value_range, image_shape),
                    "labelled_label": b["label"],
                }
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    )
    return tf.data.Dataset.zip(dataset, labelled).map(
        plain(lambda a, b: {"image": a["image"], "label": tf.fill(tf.shape(a["label"]), -1), **b})
    )


def held_out_split(source: Source) -> str:
    """The split that per-epoch monitoring reads: the validation split where
    there is one (MNIST's --paper_split), so that choosing an epoch or a
    setting by it never looks at the test split; else the test split; else
    the training split."""
    names = source.split_names()
    return next((name for name in ("validation", "test") if name in names), "train")


def held_out(source: Source, num: int, value_range, image_shape=None):
    """Up to ``num`` labelled examples of :func:`held_out_split` for
    monitoring, scaled and resized like training data.

    Returns:
      (float32 [n, H, W, C] in ``value_range``, int32 [n] labels).
    """
    split = held_out_split(source)
    batch = next(iter(source.dataset(split).take(num).batch(num)))
    return model_images(batch["image"], value_range, image_shape), batch["label"]

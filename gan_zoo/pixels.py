"""Pixel ranges: a model emits images in its ``output_range`` ((0, 1) for a
sigmoid, (-1, 1) for a tanh); exports, pictures and evaluation use [0, 1].

Models, the input pipeline and the export's signatures all convert, so the
conversion lives below all three.
"""

from __future__ import annotations


def to_unit_range(images, value_range):
    """Model pixels in ``value_range`` -> [0, 1] (what exports and pictures use)."""
    low, high = value_range
    return (images - low) / (high - low)


def from_unit_range(images, value_range):
    """[0, 1] pixels -> the model's ``value_range``."""
    low, high = value_range
    return images * (high - low) + low


def global_contrast_normalize(images, scale: float, min_divisor: float = 1e-8):
    """pylearn2's global_contrast_normalize, as Goodfellow et al.'s CIFAR-10
    configurations applied it (``gcn: 55.``): each image, all its pixels and
    channels as one vector, minus its mean, divided by its norm, times
    ``scale``; an image whose norm is below ``min_divisor`` is not divided.
    Invariant to each image's brightness offset and contrast, so uint8, [0, 1]
    and [-1, 1] pixels of one image give the same result.

    Args:
      images: float [N, H, W, C] (or [N, D]) tensor or array.
      scale: the norm every normalised image gets (55 in the configurations).

    Returns:
      float32 tensor shaped like ``images``.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    axes = list(range(1, len(images.shape)))
    centred = images - tf.reduce_mean(images, axis=axes, keepdims=True)
    norm = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=axes, keepdims=True)) / scale
    return centred / tf.where(norm < min_divisor, tf.ones_like(norm), norm)


def contrast_display(images):
    """Images of any range (GCN-normalised ones) -> [0, 1] for pictures: each
    image divided by its largest absolute value, then [-1, 1] -> [0, 1], as
    pylearn2's CIFAR10.adjust_for_viewer showed GCN data (0 stays mid-grey).
    A fixed map per image, so an image looks the same in any batch."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    axes = list(range(1, len(images.shape)))
    peak = tf.reduce_max(tf.abs(images), axis=axes, keepdims=True)
    return 0.5 + 0.5 * images / tf.maximum(peak, 1e-8)

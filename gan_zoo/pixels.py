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

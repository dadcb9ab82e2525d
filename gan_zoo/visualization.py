"""Pictures: image grids and PNG files."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image


def image_grid(images, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles images into one picture.

    Args:
      images: [N, H, W, C] floats in [0, 1] (C = 1 or 3).
      cols: images per row (default: ceil(sqrt(N))).
      pad: pixels of black border between images.

    Returns:
      uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C].
    """
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[top:top + h, left:left + w] = pixels[i]
    return grid


def save_png(picture: np.ndarray, path: str, scale: int = 1) -> str:
    """Writes a uint8 [H, W, C] picture (C = 1 or 3) as PNG, optionally upscaled."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    image = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    image.save(path)
    return path


def save_gif(paths: list[str], path: str, max_frames: int = 50, duration_ms: int = 150) -> str:
    """Animates PNG files (in order) into a looping GIF, evenly subsampled to at
    most ``max_frames`` frames and always ending on the last one."""
    if len(paths) > max_frames:
        step = len(paths) / max_frames
        paths = [paths[int(i * step)] for i in range(max_frames - 1)] + [paths[-1]]
    frames = [Image.open(p).convert("P") for p in paths]
    # Hold the final frame so the end state is easy to look at.
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 10]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path

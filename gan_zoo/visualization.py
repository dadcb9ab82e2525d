"""Pictures: image grids and PNG files."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan_zoo import storage


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
        grid[top : top + h, left : left + w] = pixels[i]
    return grid


def save_png(picture: np.ndarray, path: str, scale: int = 1) -> str:
    """Writes a uint8 [H, W, C] picture (C = 1 or 3) as PNG, optionally upscaled."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with storage.staged(path) as staging:
        _to_image(picture, scale).save(staging, format="PNG")
    return path


def _to_image(picture: np.ndarray, scale: int = 1) -> Image.Image:
    """uint8 [H, W, C] (C = 1 or 3) -> PIL image, nearest-neighbour upscaled."""
    image = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image


def save_gif(paths: list[str], path: str, max_frames: int = 50, duration_ms: int = 150) -> str:
    """Animates PNG files (in order) into a looping GIF, evenly subsampled to at
    most ``max_frames`` frames and always ending on the last one."""
    if len(paths) > max_frames:
        step = len(paths) / max_frames
        paths = [paths[int(i * step)] for i in range(max_frames - 1)] + [paths[-1]]
    frames = [Image.open(p).convert("P") for p in paths]
    # Hold the final frame so the end state is easy to look at.
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 10]
    return _write_gif(frames, path, durations)


def save_frames_gif(pictures, path: str, duration_ms: int = 120, scale: int = 1) -> str:
    """Animates uint8 pictures [H, W, C] (C = 1 or 3, all the same size) into a
    looping GIF with every frame shown for ``duration_ms``.

    Unlike :func:`save_gif` the frames are not forced onto the fixed web
    palette: Pillow then picks an adaptive palette per frame, which keeps the
    smooth shading of generated images (a latent walk) free of banding.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    frames = [_to_image(np.asarray(p, np.uint8), scale) for p in pictures]
    return _write_gif(frames, path, [duration_ms] * len(frames))


def _write_gif(frames: list, path: str, durations: list[int]) -> str:
    with storage.staged(path) as staging:
        frames[0].save(
            staging,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=durations,
            loop=0,
        )
    return path


def labelled_grid(
    images, labels, cols: int | None = None, pad: int = 2, scale: int = 1
) -> np.ndarray:
    """:func:`image_grid`, upscaled, with a short text label in the top-left
    corner of chosen cells (white on a black box, readable on any image).

    The text is drawn after upscaling so that it stays sharp and legible even
    on 28x28 images.

    Args:
      images: [N, H, W, C] floats in [0, 1] (C = 1 or 3).
      labels: N strings; "" leaves a cell unlabelled.
      cols: images per row (default: ceil(sqrt(N))).
      pad: pixels of border between images, before upscaling.
      scale: nearest-neighbour upscale factor.

    Returns:
      uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C] times ``scale``; save it
      with ``save_png(picture, path)`` (scale 1).
    """
    images = np.asarray(images, np.float32)
    if len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images.")
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    image = _to_image(image_grid(images, cols=cols, pad=pad), scale)
    draw = ImageDraw.Draw(image)
    # About a sixth of a cell high: two or three digits cover a corner only.
    font = ImageFont.load_default(size=max(10, min(h, w) * scale // 6))
    white = 255 if c == 1 else (255, 255, 255)
    for i, label in enumerate(labels):
        if not label:
            continue
        r, q = divmod(i, cols)
        top, left = (pad + r * (h + pad)) * scale, (pad + q * (w + pad)) * scale
        box = draw.textbbox((left + 1, top), label, font=font)
        draw.rectangle((left, top, box[2] + 1, box[3] + 1), fill=0)
        draw.text((left + 1, top), label, fill=white, font=font)
    picture = np.asarray(image)
    return picture[..., None] if picture.ndim == 2 else picture


def figure_to_array(figure) -> np.ndarray:
    """Renders a matplotlib figure to uint8 [H, W, 3] and closes it."""
    import matplotlib.pyplot as plt

    figure.canvas.draw()
    picture = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return picture


def density_grid(log_density, extent: float, size: int = 200) -> np.ndarray:
    """exp(log_density) on a size x size grid over [-extent, extent]^2, float64
    [size (y), size (x)], for :func:`latent_scatter`.

    ``log_density`` maps [M, 2] to [M]; it is called on 1,000 points at a
    time, which keeps a quadrature density's [points, nodes] intermediate
    small enough to stay in the CPU's cache.
    """
    ticks = np.linspace(-extent, extent, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    parts = [
        np.asarray(log_density(grid[i : i + 1000]), np.float64) for i in range(0, len(grid), 1000)
    ]
    return np.exp(np.concatenate(parts)).reshape(size, size)


def latent_scatter(
    codes, labels, density=None, extent: float = 4.0, title: str = "", marks=None
) -> np.ndarray:
    """The codes q(z) of a labelled set, coloured by label, over a prior's density.

    Args:
      codes: [N, 2] codes.
      labels: [N] integer labels (-1 = unlabelled, drawn grey).
      density: optional [H, W] density p(z) over the axes (:func:`density_grid`),
        drawn as the background so one sees whether q(z) covers p(z).
      extent: the axes span [-extent, extent] in both coordinates.
      title: figure title.
      marks: optional [K, 2] points drawn as black crosses numbered 0 ... K-1
        (cluster heads).

    Returns:
      uint8 [H, W, 3].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5), dpi=80)
    if density is not None:
        axes.imshow(
            density,
            extent=(-extent, extent, -extent, extent),
            origin="lower",
            cmap="Greys",
            alpha=0.6,
        )
    codes, labels = np.asarray(codes), np.asarray(labels)
    unlabelled = labels < 0
    axes.scatter(codes[unlabelled, 0], codes[unlabelled, 1], s=2, c="grey")
    points = axes.scatter(
        codes[~unlabelled, 0],
        codes[~unlabelled, 1],
        s=2,
        c=labels[~unlabelled],
        cmap="tab10",
        vmin=-0.5,
        vmax=9.5,
    )
    if (~unlabelled).any():
        figure.colorbar(points, ax=axes, ticks=range(10), fraction=0.046, pad=0.04)
    for k, (x, y) in enumerate(np.asarray(marks if marks is not None else [])):
        axes.plot(x, y, "kx", markersize=6)
        axes.annotate(str(k), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    axes.set_xlim(-extent, extent)
    axes.set_ylim(-extent, extent)
    axes.set_aspect("equal")
    axes.set_title(title)
    figure.tight_layout()
    return figure_to_array(figure)


def manifold_codes(extent: float, num: int) -> np.ndarray:
    """A num x num grid of 2-D codes over [-extent, extent]^2, row-major with
    the top row at +extent (so the picture has the plot's orientation)."""
    ticks = np.linspace(-extent, extent, num, dtype=np.float32)
    ys, xs = np.meshgrid(ticks[::-1], ticks, indexing="ij")
    return np.stack([xs, ys], -1).reshape(-1, 2)


def outline_cells(picture, cells, cell_shape, cols: int, pad: int = 2, color=(255, 255, 0)):
    """An :func:`image_grid` picture (uint8 [H, W, 1 or 3]) as RGB with the
    padding around each of ``cells`` (indices, row by row) drawn in ``color``,
    yellow by default as the GAN paper outlines Figure 2's nearest training
    examples; the images themselves are left untouched.

    Args:
      cell_shape: (h, w) of one image of the grid.
      cols: images per row of the grid.
      pad: the grid's padding; the outline is that wide.
    """
    picture = np.asarray(picture, np.uint8)
    if picture.shape[-1] == 1:
        picture = np.repeat(picture, 3, axis=-1)
    picture = picture.copy()
    h, w = cell_shape
    for i in cells:
        r, q = divmod(int(i), cols)
        top, left = r * (h + pad), q * (w + pad)
        box = picture[top : top + h + 2 * pad, left : left + w + 2 * pad]
        inside = box[pad:-pad, pad:-pad].copy() if pad else box.copy()
        box[...] = color
        if pad:
            box[pad:-pad, pad:-pad] = inside
    return picture

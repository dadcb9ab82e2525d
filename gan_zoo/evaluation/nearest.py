"""Nearest training examples: the search behind the GAN paper's Figure 2
(``python -m gan_zoo.sample --nearest``) and the ``memorization`` metric of
``gan_zoo.evaluate``.

Distances are squared pixel distances, as the authors' show_samples_*_paper.py
took them (``np.square(X - sample).sum(axis=1)``), between images in [0, 1]
(what exports serve and datasets give divided by 255) or in a model's own
comparison space (:func:`comparison_space`). The training set streams past in
batches: nothing here holds more than one batch of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from gan_zoo import pixels


def comparison_space(model_config: dict) -> Callable | None:
    """Where a model's images are compared with the data: None for pixels in
    [0, 1]; global contrast normalisation for a model trained on
    GCN-normalised data (gan_cifar10_*), as the authors compared their CIFAR
    samples with GCN-normalised training images."""
    scale = float(model_config.get("gcn_scale", 0.0) or 0.0)
    if not scale:
        return None
    return lambda images: np.asarray(pixels.global_contrast_normalize(images, scale))


def training_batches(source, split: str = "train", batch_size: int = 1000, stop: int = 0):
    """Yields the split's images as float32 [B, H, W, C] in [0, 1], ``batch_size``
    at a time, in the split's order (the first ``stop`` only, if > 0)."""
    ds = source.dataset(split)
    if stop:
        ds = ds.take(stop)
    for batch in ds.batch(batch_size).as_numpy_iterator():
        yield batch["image"].astype(np.float32) / 255.0


def nearest(
    queries,
    batches: Iterable[np.ndarray],
    first=0,
    space: Callable | None = None,
    keep_images: bool = False,
) -> dict:
    """The nearest image of a streamed set to each query, by squared distance.

    Args:
      queries: float [N, H, W, C] (or [N, D]) images.
      batches: an iterable of float arrays shaped like ``queries``' rows
        (e.g. :func:`training_batches`); read once, in order.
      first: int or int [N]: query i only considers images whose index in the
        stream is >= first[i] (so training images can be scored against the
        rest of their own set).
      space: maps images to where distances are taken (applied to queries and
        to every batch); None for the images as they are.
      keep_images: also return each neighbour as the stream gave it.

    Returns:
      {"distance": float64 [N] squared distances, "index": int64 [N]
       positions in the stream (-1 where a query had no candidate), "streamed":
       the stream's length, and with ``keep_images`` "image": [N, ...] the
       neighbours}.
    """
    queries = np.asarray(queries, np.float32)
    flat = _flat(queries if space is None else space(queries))
    first = np.broadcast_to(np.asarray(first, np.int64), (len(flat),))
    norms = np.einsum("ij,ij->i", flat, flat)
    best = np.full(len(flat), np.inf)
    index = np.full(len(flat), -1, np.int64)
    kept = None
    seen = 0
    for batch in batches:
        batch = np.asarray(batch, np.float32)
        candidates = _flat(batch if space is None else space(batch))
        if candidates.shape[1] != flat.shape[1]:
            raise ValueError(
                f"queries have {flat.shape[1]} values per image and the streamed images "
                f"{candidates.shape[1]}; they must be the same size."
            )
        # |q|^2 + |c|^2 - 2 q.c in float32 picks the neighbour; its distance
        # is recomputed exactly below, where the cancellation would matter.
        squared = (
            norms[:, None] + np.einsum("ij,ij->i", candidates, candidates)[None, :]
        ) - 2.0 * (flat @ candidates.T)
        positions = seen + np.arange(len(candidates))
        squared[positions[None, :] < first[:, None]] = np.inf
        column = np.argmin(squared, axis=1)
        value = squared[np.arange(len(flat)), column]
        better = value < best
        if better.any():
            exact = candidates[column[better]].astype(np.float64) - flat[better]
            best[better] = np.einsum("ij,ij->i", exact, exact)
            index[better] = positions[column[better]]
            if keep_images:
                if kept is None:
                    kept = np.zeros((len(flat),) + batch.shape[1:], batch.dtype)
                kept[better] = batch[column[better]]
        seen += len(candidates)
    out = {"distance": best, "index": index, "streamed": seen}
    if keep_images:
        out["image"] = kept
    return out


def memorization(
    samples,
    held_out,
    batches: Callable[[], Iterable[np.ndarray]],
    real_train=None,
    space: Callable | None = None,
    quantile: float = 0.01,
) -> dict:
    """How close samples sit to the training set, against held-out real images.

    A model that copies training examples puts its samples far closer to
    them than new draws from the data distribution are: the held-out real
    images (test digits) are such draws, scored the same way.

    Args:
      samples: float [N, H, W, C] generated images.
      held_out: float [M, H, W, C] real images the model never trained on.
      batches: callable() -> a fresh stream of the training images
        (:func:`training_batches`); one pass serves every set.
      real_train: optionally the first K images of that stream, scored against
        the rest of it (with ``held_out`` scored against the same rest), the
        row of real data beside a model's; and, as the control that the
        score flags copies, against the whole stream, which holds them.
      space: as in :func:`nearest`.
      quantile: the held-out distances' quantile that counts as "too close".

    Returns:
      {"samples": scores, and "real_train": scores where asked}, each with
      the medians of the Euclidean nearest-neighbour distances of the set and
      of the held-out images, their ratio (set / held-out: about 1 for fresh
      draws, near 0 for copies), the held-out distances' ``quantile`` and the
      share of the set closer to a training image than it.
    """
    sets = [("samples", samples, 0), ("held_out", held_out, 0)]
    if real_train is not None:
        skip = len(real_train)
        sets += [
            ("real_train", real_train, skip),
            ("held_out_rest", held_out, skip),
            ("real_train_copies", real_train, 0),
        ]
    queries = np.concatenate([np.asarray(images, np.float32) for _, images, _ in sets])
    first = np.concatenate([np.full(len(images), start) for _, images, start in sets])
    found = nearest(queries, batches(), first, space)
    distances, start = {}, 0
    for name, images, _ in sets:
        distances[name] = np.sqrt(found["distance"][start : start + len(images)])
        start += len(images)
    result = {"samples": _scores(distances["samples"], distances["held_out"], quantile)}
    if real_train is not None:
        if not np.isfinite(distances["held_out_rest"]).all():
            raise ValueError("no training images are left beside real_train to score it against.")
        result["real_train"] = _scores(
            distances["real_train"], distances["held_out_rest"], quantile
        )
        result["real_train"]["reference_images"] = found["streamed"] - skip
        result["real_train"]["copies"] = _scores(
            distances["real_train_copies"], distances["held_out"], quantile
        )
    return result


def _scores(distances, held_out, quantile: float) -> dict:
    cut = float(np.quantile(held_out, quantile))
    median, held_median = float(np.median(distances)), float(np.median(held_out))
    return {
        "median_distance": median,
        "held_out_median_distance": held_median,
        "ratio": median / held_median if held_median > 0 else float("nan"),
        "held_out_quantile": quantile,
        "held_out_quantile_distance": cut,
        "share_closer": float(np.mean(distances < cut)),
        "num": len(distances),
        "num_held_out": len(held_out),
    }


def _flat(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    return images.reshape(len(images), -1)

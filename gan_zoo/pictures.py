"""Per-epoch diagnostic pictures of held-out data, built from what a model draws.

A model lists them in ``draws`` (empty for the GANs, whose per-epoch sample
grid is the picture); :func:`for_model` returns {name: uint8 picture [H, W,
C]}, which the training driver saves under ``<workdir>/pictures/<name>/``
and logs to TensorBoard.

- ``autoencoder``: ``reconstructions`` (rows of originals, then their
  reconstructions); for a 2-D code the encoded set q(z) (``latent``, over
  the prior's density if there is one) and the decoder's ``manifold``
  (decodes of a grid of codes); for a label-reading decoder ``style`` (each
  row one held-out image's z decoded with every label).
- ``denoising`` (dae): rows of corrupted images, their reconstructions and
  the clean originals.
- ``categories`` (AAEs with a categorical code): ``style`` (each row one
  image's z decoded with every category as y: one digit per column only
  where y, not z, carries the digit) and ``categories`` (one row per
  category: its "head", decoded with z = 0 as in the paper's Fig. 9, then
  up to ten held-out images the encoder puts in it).
- ``representation`` (the dimensionality-reduction AAEs, a 2-D map): the
  held-out set's representations W_c y + z coloured by label, with every
  cluster head marked by its number (the paper's Fig. 11).
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import visualization
from gan_zoo.pixels import to_unit_range


def _unit(model, images) -> np.ndarray:
    return to_unit_range(images, model.output_range).numpy()


def reconstruction_rows(originals, rebuilt, cols):
    """Interleaves rows: ``cols`` originals, then their reconstructions, and so on."""
    shape = tuple(originals.shape[1:])
    rows = len(originals) // cols
    pairs = np.stack(
        [np.reshape(originals, (rows, cols) + shape), np.reshape(rebuilt, (rows, cols) + shape)], 1
    )
    return pairs.reshape((-1,) + shape)


@functools.lru_cache(maxsize=4)
def _prior_density(prior, extent: float) -> np.ndarray:
    # The same background every epoch of a run: computed once (the swiss
    # roll's quadrature takes seconds).
    return visualization.density_grid(lambda g: prior.log_prob(tf.constant(g)).numpy(), extent)


def autoencoder(model, images, labels) -> dict:
    code = model.encode(images, labels)
    cols = min(10, len(images))
    n = min(50, len(images)) // cols * cols
    rebuilt = model.decode({k: v[:n] for k, v in code.items()}, labels[:n])
    rows = reconstruction_rows(_unit(model, images[:n]), _unit(model, rebuilt), cols)
    pictures = {"reconstructions": visualization.image_grid(rows, cols=cols)}
    z, prior = code["z"].numpy(), model.prior
    # Every target prior puts nearly all its mass inside [-4, 4]^2; the AE's
    # codes go wherever training put them.
    extent = 4.0
    if prior is None and len(z):
        extent = float(max(1.0, 1.1 * np.percentile(np.abs(z), 99)))
    if model.latent_dim == 2:
        density = None if prior is None else _prior_density(prior, extent)
        title = "q(z) of held-out data" + ("" if prior is None else f" over p(z) = {prior.name}")
        pictures["latent"] = visualization.latent_scatter(
            z[:5000], labels.numpy()[:5000], density, extent, title=title
        )
    # A manifold needs a 2-D code that the decoder reads alone.
    if model.latent_dim == 2 and model.code_names == ("z",) and not model.decoder_takes_label:
        grid = visualization.manifold_codes(extent * 0.75, 20)
        decoded = _unit(model, model.decode({"z": grid}))
        pictures["manifold"] = visualization.image_grid(decoded, cols=20, pad=0)
    if model.decoder_takes_label:
        k = model.num_classes
        rows = {name: tf.repeat(v[:10], k, axis=0) for name, v in code.items()}
        decoded = model.decode(rows, model.cycling_labels(10 * k, k))
        pictures["style"] = visualization.image_grid(_unit(model, decoded), cols=k)
    return pictures


def denoising(model, images, labels) -> dict:
    from gan_zoo.models.dae import corrupt

    clean = images[:10]
    # The same corruption every epoch, so the frames of its GIF compare.
    noisy = corrupt(clean, model.corruption, model.corruption_level, keras.random.SeedGenerator(0))
    rebuilt = model.decode(model.encode(noisy, labels[:10]), labels[:10])
    rows = [_unit(model, t) for t in (tf.clip_by_value(noisy, 0.0, 1.0), rebuilt, clean)]
    return {"denoising": visualization.image_grid(np.concatenate(rows), cols=len(clean))}


def categories(model, images, labels) -> dict:
    del labels
    code, k, per_row = model.categorical, model.categorical.num_categories, 10
    z = code.encode(images[:10])["z"]
    styled = model.decode({"y": tf.tile(tf.eye(k), [len(z), 1]), "z": tf.repeat(z, k, axis=0)})
    heads = model.decode({"y": tf.eye(k), "z": tf.zeros((k, model.latent_dim))})
    rows = np.zeros((k, per_row + 1) + tuple(images.shape[1:]), np.float32)
    rows[:, 0] = _unit(model, heads)
    members, pixels = code.categories(images).numpy(), _unit(model, images)
    for c in range(k):
        picked = pixels[members == c][:per_row]
        rows[c, 1 : 1 + len(picked)] = picked
    return {
        "style": visualization.image_grid(_unit(model, styled), cols=k),
        "categories": visualization.image_grid(
            rows.reshape((-1,) + rows.shape[2:]), cols=per_row + 1
        ),
    }


def representation(model, images, labels) -> dict:
    if model.latent_dim != 2:
        return {}
    points = model.encode(images[:5000])["representation"].numpy()
    heads = model.cluster_heads.numpy()
    # Both the codes and every head in view; a stray code may fall outside.
    extent = float(max(1.0, 1.1 * np.abs(heads).max(), np.percentile(np.abs(points), 99.5)))
    return {
        "representation": visualization.latent_scatter(
            points,
            labels.numpy()[:5000],
            extent=extent,
            title="W_c y + z of held-out data; heads numbered",
            marks=heads,
        )
    }


KINDS = {
    "autoencoder": autoencoder,
    "denoising": denoising,
    "categories": categories,
    "representation": representation,
}


def for_model(model, images, labels) -> dict:
    """{name: uint8 picture} of everything ``model.draws``, for held-out
    ``images`` (in the model's range) and their ``labels``."""
    pictures = {}
    for kind in model.draws:
        pictures.update(KINDS[kind](model, images, labels))
    return pictures

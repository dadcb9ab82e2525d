"""Parzen-window log-likelihood, the protocol of the GAN and AAE papers' Table 1.

A Gaussian kernel density estimate is fitted to generated samples,

    p(x) = 1/N sum_i N(x; s_i, sigma^2 I),

its width sigma is chosen from a grid by the mean log-likelihood of held-out
validation images, and the mean log-likelihood of the test set under it is
reported with its standard error (std / sqrt(n)). Pixels are in [0, 1].

The estimate is known to be poor in high dimensions (Theis et al. 2016): it
rewards a sharp, memorised copy of the training set, so report it next to
the score of real training images under the same protocol, the ceiling
(``reference``) the papers' numbers never showed.
"""

from __future__ import annotations

import math

import numpy as np

# The papers' grid: 10 widths from 0.1 to 1 on a log scale.
SIGMAS = tuple(np.logspace(-1, 0, 10))


def _flat64(x) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float64)


def log_likelihood(samples, data, sigma, batch_size: int = 500) -> np.ndarray:
    """log p(x) of every row of ``data`` under the Parzen window of ``samples``.

    Squared distances come from one matrix product per batch of ``data``
    (|x|^2 + |s|^2 - 2 x.s), all in float64, then a log-sum-exp over samples,
    so 10,000 x 10,000 MNIST digits take seconds and never overflow. Several
    widths share the distances.

    Args:
      samples: [N, ...] the kernel centres (generated images).
      data: [M, ...] the points to score, same per-row size.
      sigma: kernel width, or a sequence of widths.
      batch_size: rows of ``data`` per matrix product (bounds memory: M x N floats).

    Returns:
      float64 [M] log-densities, or [len(sigma), M] for a sequence of widths.
    """
    centres, points = _flat64(samples), _flat64(data)
    if centres.shape[1] != points.shape[1]:
        raise ValueError(
            f"samples have {centres.shape[1]} values per row and data "
            f"{points.shape[1]}; they must be the same images."
        )
    sigmas = np.atleast_1d(np.asarray(sigma, np.float64))
    n, d = centres.shape
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    out = np.empty((len(sigmas), len(points)))
    for start in range(0, len(points), batch_size):
        x = points[start : start + batch_size]
        squared = np.maximum(
            np.einsum("ij,ij->i", x, x)[:, None] + centre_norms[None, :] - 2.0 * x @ centres.T, 0.0
        )
        for k, width in enumerate(sigmas):
            exponent = squared / (-2.0 * width * width)
            top = exponent.max(axis=1)
            out[k, start : start + len(x)] = (
                top
                + np.log(np.exp(exponent - top[:, None]).sum(1))
                - math.log(n)
                - 0.5 * d * math.log(2.0 * math.pi * width * width)
            )
    return out[0] if np.ndim(sigma) == 0 else out


def select_sigma(samples, validation, sigmas=SIGMAS) -> tuple[float, dict[float, float]]:
    """The width with the highest mean validation log-likelihood, and all the scores."""
    means = log_likelihood(samples, validation, list(sigmas)).mean(axis=1)
    scores = {float(s): float(m) for s, m in zip(sigmas, means)}
    return max(scores, key=scores.get), scores


def parzen_score(samples, validation, test, sigmas=SIGMAS) -> dict:
    """The full protocol: pick sigma on ``validation``, score ``test``.

    Returns:
      {"mean": mean test log-likelihood (nats), "std_error": std / sqrt(n),
       "sigma": the chosen width, "validation": {sigma: mean validation score},
       "num_samples": N, "num_test": n}.
    """
    sigma, scores = select_sigma(samples, validation, sigmas)
    ll = log_likelihood(samples, test, sigma)
    return {
        "mean": float(ll.mean()),
        "std_error": float(ll.std() / math.sqrt(len(ll))),
        "sigma": sigma,
        "validation": scores,
        "num_samples": len(samples),
        "num_test": len(ll),
    }

"""Sample-quality scores on features of a network: FID, KID, the Inception
(or classifier) score and mode coverage.

Each takes arrays of features or class probabilities, so any extractor can
feed it (InceptionV3 for photographs, the MNIST classifier for digits; see
:mod:`gan_zoo.evaluation.features`). Statistics are accumulated in float64.
"""

from __future__ import annotations

import numpy as np


def _gaussian(features):
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need [N >= 2, D] features, got shape {f.shape}.")
    return f.mean(0), np.cov(f, rowvar=False)


def _psd_sqrt(matrix):
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mean1, cov1, mean2, cov2) -> float:
    """|m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)) between two Gaussians.

    tr((C1 C2)^(1/2)) is computed as the sum of square roots of the
    eigenvalues of the symmetric PSD matrix C1^(1/2) C2 C1^(1/2), which has
    the same spectrum, so no non-symmetric matrix square root (and none of
    its imaginary round-off) is ever formed.
    """
    mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    root1 = _psd_sqrt(np.asarray(cov1, np.float64))
    middle = root1 @ np.asarray(cov2, np.float64) @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    return float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def fid(features1, features2) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)."""
    return frechet_distance(*_gaussian(features1), *_gaussian(features2))


def _polynomial_mmd2(x, y) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (a.b / D + 1)^3."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def kid(
    features1, features2, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased
    polynomial-kernel MMD^2, averaged over random subsets.

    Returns:
      (mean, standard deviation) over the subsets.
    """
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least 2 feature vectors in each set.")
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd2(
            x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def inception_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) over ``splits`` equal parts (Salimans et al. 2016).

    With the MNIST classifier's probabilities this is the "classifier score":
    high when each sample is confidently one class and all classes occur.

    Returns:
      (mean, standard deviation) over the splits.
    """
    p = np.asarray(probabilities, np.float64)
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def mode_coverage(probabilities, threshold: float = 0.05) -> dict:
    """How many classes hold at least ``threshold`` of the samples (by argmax),
    and each class's share: the simplest sign of mode collapse."""
    p = np.asarray(probabilities)
    shares = np.bincount(p.argmax(1), minlength=p.shape[1]) / len(p)
    return {
        "modes_covered": int(np.sum(shares >= threshold)),
        "num_classes": p.shape[1],
        "class_shares": [round(float(s), 4) for s in shares],
    }

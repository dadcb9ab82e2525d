"""Error rates of a categorical code against true labels: plain NumPy, so
that the models' per-epoch metrics and the evaluation stand on it alike.

The AAE paper reports two: the semi-supervised test error (q(y|x) is a
classifier) and the unsupervised clustering error, where each cluster first
takes a class label. Its Sec. 6 names each cluster after the one validation
image with the highest q(y|x) for it; we follow the more common and less
noisy reading, every cluster takes the majority label of its members, and
say so next to every number we report.
"""

from __future__ import annotations

import numpy as np


def classification_error(predicted, labels) -> float:
    """Fraction of ``predicted`` class indices that differ from ``labels``."""
    predicted, labels = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    if predicted.shape != labels.shape or not len(labels):
        raise ValueError(
            f"need equally many predictions and labels, got {predicted.shape} and {labels.shape}."
        )
    return float(np.mean(predicted != labels))


def error_by_class(predicted, labels) -> list:
    """The error within each true class (``None`` for a class with no points):
    where a model's mistakes are, e.g. a clustering that is right on every
    digit but 4, 7 and 9."""
    predicted, labels = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    counts = np.bincount(labels)
    wrong = np.bincount(labels[predicted != labels], minlength=len(counts))
    return [float(w / c) if c else None for w, c in zip(wrong, counts)]


def top_confusions(predicted, labels, n: int = 3) -> list:
    """The ``n`` commonest mistakes as {"true", "predicted", "share"}, share
    being of all points, commonest first (ties: smaller true label first)."""
    predicted, labels = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    wrong = predicted != labels
    pairs, counts = np.unique(
        np.stack([labels[wrong], predicted[wrong]], 1), axis=0, return_counts=True
    )
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -counts))[:n] if len(counts) else []
    return [
        {
            "true": int(pairs[i, 0]),
            "predicted": int(pairs[i, 1]),
            "share": float(counts[i] / len(labels)),
        }
        for i in order
    ]


def cluster_labels(clusters, labels, num_clusters: int) -> np.ndarray:
    """The majority label of each cluster's members (-1 for an empty cluster).

    Ties go to the smaller label, so the mapping is deterministic.
    """
    clusters, labels = np.asarray(clusters).ravel(), np.asarray(labels).ravel()
    num_labels = int(labels.max()) + 1 if len(labels) else 1
    counts = np.zeros((num_clusters, num_labels), np.int64)
    np.add.at(counts, (clusters, labels), 1)
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)


def cluster_error(clusters, labels, num_clusters: int) -> float:
    """Error of labelling every point with its cluster's majority label.

    Args:
      clusters: int [N], the cluster of each point, in [0, num_clusters).
      labels: int [N], the true class of each point.
      num_clusters: how many clusters the model has (empty ones included).
    """
    mapping = cluster_labels(clusters, labels, num_clusters)
    return classification_error(mapping[np.asarray(clusters).ravel()], labels)


def equal_size_floor(label_counts, num_clusters: int) -> float:
    """The lowest :func:`cluster_error` any clustering into ``num_clusters``
    *equally large* clusters can reach on data with these class counts.

    A categorical prior Cat(K) matched exactly makes every cluster hold 1/K
    of the data. A class larger than that needs several clusters, and what
    it leaves over shares a cluster it is not the majority of. Class c with
    m_c clusters named after it is right at most min(n_c, m_c * N / K)
    times; that is concave in m_c, so handing out the K names one at a time,
    each to the class that gains most, maximises the sum exactly.

    Args:
      label_counts: how many points each class has.
      num_clusters: K.
    """
    counts = np.asarray(label_counts, np.float64).ravel()
    if num_clusters < 1 or not len(counts) or counts.sum() <= 0:
        raise ValueError(f"need >= 1 cluster and some points, got {num_clusters} and {counts}.")
    capacity = counts.sum() / num_clusters
    named = np.zeros_like(counts)
    for _ in range(num_clusters):
        gain = np.minimum(counts, (named + 1) * capacity) - np.minimum(counts, named * capacity)
        named[np.argmax(gain)] += 1
    return float(1.0 - np.minimum(counts, named * capacity).sum() / counts.sum())

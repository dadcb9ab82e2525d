"""Error rates of a model's categorical code against true labels.

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
        raise ValueError(f"need equally many predictions and labels, got {predicted.shape} "
                         f"and {labels.shape}.")
    return float(np.mean(predicted != labels))


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

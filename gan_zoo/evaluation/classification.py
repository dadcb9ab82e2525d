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
import tensorflow as tf


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


def class_control(export, source, num: int = 1000) -> float:
    """How fully the categorical code y, not the style z, sets the class of a
    decoded image (the semi-supervised AAE's point): the first ``num`` test
    digits are encoded, each z is decoded with every label k, and this is the
    share of the ``num * K`` images the project's MNIST classifier reads as
    k. 1 = y alone decides the digit; 1/K = the decoder ignores y.
    """
    from gan_zoo.evaluation.classifier import MnistClassifier

    images = next(iter(source.dataset("test").take(num).batch(num)))["image"]
    z = export.module.signatures["encode"](images=tf.cast(images, tf.float32) / 255.0)["z"]
    k = export.module.signatures["classify"].structured_outputs["probabilities"].shape[1]
    labels = np.tile(np.arange(k, dtype=np.int32), len(z))
    decoded = export.module.signatures["decode"](z=tf.repeat(z, k, axis=0), y=tf.constant(labels))[
        "images"
    ]
    read = np.argmax(MnistClassifier()(decoded.numpy())[1], axis=1)
    return float(np.mean(read == labels))


def export_error(export, source, batch_size: int = 1000) -> dict:
    """The test error of an export's categorical code (``gan_zoo.evaluate
    --metrics=error``): its ``classify`` signature's argmax against the test
    labels, or, for ``cluster``, each cluster named by the majority label of
    its members among *held-out* digits (the validation split, else the last
    10,000 training images) and the test digits scored by those names, so
    the test labels choose nothing.

    Returns:
      {"test_error": float} or {"test_cluster_error": float, "clusters_used":
      int, "largest_cluster": its share of the test digits,
      "equal_size_floor": :func:`equal_size_floor` of the test digits}; both
      with "error_by_class" and "top_confusions" of the test digits.
    """
    from gan_zoo.datasets import pipeline
    from gan_zoo.errors import UserError

    names = [n for n in ("classify", "cluster") if n in export.module.signatures]
    if not names:
        raise UserError(
            "--metrics=error needs an export with a 'classify' or 'cluster' signature "
            "(aae_semi_supervised, aae_clustering, aae_dim_reduction*); "
            f"{export.directory} has neither."
        )
    signature = export.module.signatures[names[0]]

    def categories(split, start=0):
        ds = source.dataset(split).skip(start).batch(batch_size)
        predicted, labels = [], []
        for batch in ds:
            images = pipeline.model_images(batch["image"], (0.0, 1.0), export.image_shape)
            out = signature(images=images)
            predicted.append(out["y"].numpy())
            labels.append(batch["label"].numpy())
        return np.concatenate(predicted), np.concatenate(labels), out["probabilities"].shape[1]

    test, test_labels, k = categories("test")
    if names[0] == "classify":
        result = {"test_error": classification_error(test, test_labels)}
        if tuple(export.image_shape) == (28, 28, 1):
            result["class_control"] = class_control(export, source)
        return {**result, **_breakdown(test, test_labels)}
    held_out = (
        categories("validation")
        if "validation" in source.split_names()
        else categories("train", start=max(0, source.num_examples("train") - 10000))
    )
    mapping = cluster_labels(held_out[0], held_out[1], k)
    named = mapping[test]
    return {
        "test_cluster_error": classification_error(named, test_labels),
        "clusters_used": int(np.sum(mapping >= 0)),
        "largest_cluster": float(np.bincount(test, minlength=k).max() / len(test)),
        "equal_size_floor": round(equal_size_floor(np.bincount(test_labels), k), 6),
        **_breakdown(named, test_labels),
    }


def _breakdown(predicted, labels) -> dict:
    return {
        "error_by_class": [
            None if e is None else round(e, 4) for e in error_by_class(predicted, labels)
        ],
        "top_confusions": [
            dict(c, share=round(c["share"], 4)) for c in top_confusions(predicted, labels)
        ],
    }

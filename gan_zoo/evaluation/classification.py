"""A classifying or clustering export scored on a dataset: its error (with
the per-class breakdown and commonest confusions) and, for conditional
generators, how well the class it is given controls what it draws. The
error rates themselves are in ``gan_zoo/label_errors.py``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan_zoo import label_errors


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
      "equal_size_floor": :func:`~gan_zoo.label_errors.equal_size_floor` of the test digits}; both
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
        result = {"test_error": label_errors.classification_error(test, test_labels)}
        if tuple(export.image_shape) == (28, 28, 1):
            result["class_control"] = class_control(export, source)
        return {**result, **_breakdown(test, test_labels)}
    held_out = (
        categories("validation")
        if "validation" in source.split_names()
        else categories("train", start=max(0, source.num_examples("train") - 10000))
    )
    mapping = label_errors.cluster_labels(held_out[0], held_out[1], k)
    named = mapping[test]
    return {
        "test_cluster_error": label_errors.classification_error(named, test_labels),
        "clusters_used": int(np.sum(mapping >= 0)),
        "largest_cluster": float(np.bincount(test, minlength=k).max() / len(test)),
        "equal_size_floor": round(label_errors.equal_size_floor(np.bincount(test_labels), k), 6),
        **_breakdown(named, test_labels),
    }


def _breakdown(predicted, labels) -> dict:
    return {
        "error_by_class": [
            None if e is None else round(e, 4)
            for e in label_errors.error_by_class(predicted, labels)
        ],
        "top_confusions": [
            dict(c, share=round(c["share"], 4))
            for c in label_errors.top_confusions(predicted, labels)
        ],
    }

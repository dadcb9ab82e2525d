"""Feature extractors for FID / KID / IS: each maps images in [0, 1] (NHWC) to
(features [N, D], class probabilities [N, K]).

- ``mnist_classifier``: the project's own digit classifier (64-d features,
  10 classes), shipped with the package; for 28x28x1 data.
- ``inception``: InceptionV3 from ``keras.applications`` (2048-d pool
  features, 1000 ImageNet classes), preprocessed as the standard TF
  implementation does: bilinear resize to 299x299, grey replicated to RGB,
  pixels scaled to [-1, 1]. Keras cannot download its weights on an offline
  machine, so the weights file is an argument.
"""

from __future__ import annotations

import os

import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.evaluation.classifier import MnistClassifier, in_batches

EXTRACTORS = ("mnist_classifier", "inception")


def inception_inputs(images) -> tf.Tensor:
    """[N, H, W, 1 or 3] in [0, 1] -> InceptionV3's input: [N, 299, 299, 3] in [-1, 1]."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    images = tf.image.resize(images, (299, 299), method="bilinear")
    return images * 2.0 - 1.0


class InceptionExtractor:
    """InceptionV3's pool features and class probabilities.

    Args:
      weights: the Keras InceptionV3 weights file with the top
        (inception_v3_weights_tf_dim_ordering_tf_kernels.h5).
    """

    name = "inception"

    def __init__(self, weights: str | None):
        if not weights:
            raise UserError(
                "InceptionV3 needs its weights and they cannot be downloaded here; "
                "pass --inception_weights=<inception_v3_weights_tf_dim_ordering_tf_"
                "kernels.h5>, or use --features=mnist_classifier for digits."
            )
        if not os.path.isfile(weights):
            raise UserError(f"--inception_weights={weights} is not a file.")
        import keras

        try:
            model = keras.applications.InceptionV3(weights=weights, include_top=True)
        except (ValueError, OSError) as e:
            raise UserError(
                f"cannot load InceptionV3 weights from {weights} "
                f"({str(e).splitlines()[0][:120]}); it must be Keras' file with "
                "the top (1000 classes)."
            ) from None
        self.model = keras.Model(model.input, [model.get_layer("avg_pool").output, model.output])

    def __call__(self, images, batch_size: int = 50):
        return in_batches(
            lambda batch: self.model(inception_inputs(batch), training=False), images, batch_size
        )


def extractor(name: str, inception_weights: str | None = None):
    """The extractor called ``name`` (one of EXTRACTORS)."""
    if name == "mnist_classifier":
        return MnistClassifier()
    if name == "inception":
        return InceptionExtractor(inception_weights)
    raise UserError(f"unknown --features={name!r}; choose one of: {', '.join(EXTRACTORS)}.")

"""A small MNIST classifier: the feature extractor of the classifier-based
FID, KID, score and mode coverage for MNIST-family data (28x28x1).

InceptionV3, the standard extractor, was trained on ImageNet photographs and
is a poor judge of digits; a network that knows digits is the usual stand-in.
Its 64-unit penultimate layer gives the features, its softmax the class
probabilities. The weights ship with the package (``data/``, about 0.5 MB),
trained by ``python -m gan_zoo.train_classifier`` from real MNIST.

Architecture: 3x3 conv 32 - max-pool - 3x3 conv 64 - max-pool - dropout -
dense 64 (the features) - dense 10 (logits), ReLU throughout; Adam 1e-3.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gan_zoo.datasets import pipeline
from gan_zoo.datasets.base import load_labelled
from gan_zoo.errors import UserError

WEIGHTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "data",
    "mnist_classifier.weights.h5",
)
IMAGE_SHAPE = (28, 28, 1)


def in_batches(fn, images, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, class probabilities) of ``images``, from ``fn(batch)`` ->
    (features, probabilities) run on ``batch_size`` images at a time."""
    parts = [fn(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    return tuple(np.concatenate([np.asarray(p[k]) for p in parts]) for k in (0, 1))


def build(seed: int = 0) -> keras.Model:
    """The classifier: images in [0, 1] -> logits [N, 10]; its ``features``
    layer is the 64-d representation."""
    x = keras.Input(IMAGE_SHAPE, name="images")
    h = layers.Conv2D(
        32,
        3,
        activation="relu",
        name="conv0",
        kernel_initializer=keras.initializers.HeUniform(seed),
    )(x)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(
        64,
        3,
        activation="relu",
        name="conv1",
        kernel_initializer=keras.initializers.HeUniform(seed + 1),
    )(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Dropout(0.25, seed=seed)(layers.Flatten()(h))
    features = layers.Dense(
        64,
        activation="relu",
        name="features",
        kernel_initializer=keras.initializers.HeUniform(seed + 2),
    )(h)
    logits = layers.Dense(10, name="logits")(layers.Dropout(0.25, seed=seed + 1)(features))
    return keras.Model(x, logits, name="mnist_classifier")


def train(source, epochs: int = 6, batch_size: int = 128, seed: int = 0, verbose="auto"):
    """Trains the classifier on ``source``'s train split.

    Returns:
      (model, test accuracy on the source's test split).
    """
    keras.utils.set_random_seed(seed)
    train_images, train_labels = _arrays(source, "train")
    test_images, test_labels = _arrays(source, "test")
    model = build(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # A tf.data stream without autotuning, not arrays: Keras would build one
    # with it for every epoch, and each epoch's end would wait for its thread
    # (gan_zoo/datasets/pipeline.py).
    batches = (
        tf.data.Dataset.from_tensor_slices((train_images, train_labels))
        .shuffle(len(train_images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .with_options(pipeline.WITHOUT_AUTOTUNING)
    )
    model.fit(batches, epochs=epochs, verbose=verbose)
    logits = np.concatenate(
        [model(test_images[i : i + 1000], training=False) for i in range(0, len(test_images), 1000)]
    )
    predicted = np.argmax(logits, axis=1)
    return model, float(np.mean(predicted == test_labels))


def save_weights(model, path: str) -> None:
    """Writes the weights alone: a compiled model's file would also carry the
    optimizer's state, three times the size."""
    bare = build()
    bare.set_weights(model.get_weights())
    bare.save_weights(path)


def _arrays(source, split):
    images, labels = load_labelled(source, split)
    return images.astype(np.float32) / 255.0, labels


class MnistClassifier:
    """The trained classifier as a feature extractor.

    Args:
      weights: a ``.weights.h5`` file; default the one shipped in the package.
    """

    name = "mnist_classifier"

    def __init__(self, weights: str | None = None):
        path = weights or WEIGHTS
        if not os.path.isfile(path):
            raise UserError(
                f"no MNIST classifier weights at {path}; train them with "
                "`python -m gan_zoo.train_classifier --data_dir=<MNIST dir>`."
            )
        self.model = build()
        self.model.load_weights(path)
        self.features_model = keras.Model(
            self.model.input, [self.model.get_layer("features").output, self.model.output]
        )

    def __call__(self, images, batch_size: int = 500):
        """(features [N, 64], class probabilities [N, 10]) of images in [0, 1], [N, 28, 28, 1]."""
        images = np.asarray(images, np.float32)
        if images.shape[1:] != IMAGE_SHAPE:
            raise UserError(
                f"the MNIST classifier scores 28x28x1 images, got "
                f"{images.shape[1:]}; use --features=inception for other data."
            )

        def features_and_probabilities(batch):
            features, logits = self.features_model(batch, training=False)
            return features, tf.nn.softmax(logits)

        return in_batches(features_and_probabilities, images, batch_size)

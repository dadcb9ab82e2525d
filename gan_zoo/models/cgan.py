"""Conditional GAN (Mirza & Osindero, 2014): Algorithm 1 of :mod:`gan_zoo.models.gan`
with the one-hot label y fed to both networks, so G(z, y) draws a chosen class
and D(x, y) judges whether x is a real example *of class y*.

The MNIST networks follow the paper's Sec. 4.1: G maps z (100-d) to 200 ReLU
units and y to 1000, joins them into a 1200-unit ReLU layer and outputs
784 sigmoid pixels; D maps x to a maxout layer of 240 units x 5 pieces and y
to one of 50 units x 5 pieces, joins them into a maxout layer of 240 units x
4 pieces, then one sigmoid unit. Dropout 0.5 in both. SGD, batch 100, lr 0.1
divided by 1.00004 per update down to 1e-6, momentum 0.5 rising to 0.7.

Readings: the paper's noise is uniform on the unit hypercube; we keep the
GAN's U(-sqrt3, sqrt3) (``--noise``), the same family up to an affine map
that G's first layer absorbs. It gives no initialisation, momentum schedule
length or epoch count; we reuse the GAN's pylearn2 settings (weights
U(-0.05, 0.05) in G and U(-0.005, 0.005) in D, G's output bias at the logit
of the mean image, 250 momentum epochs) and train 100 epochs. Dropout is on
the hidden layers of both networks (the paper does not say where).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gan_zoo import networks
from gan_zoo.models.base import require_labels
from gan_zoo.models.gan import GAN
from gan_zoo.networks import OUTPUT_DTYPE, Maxout, uniform_init
from gan_zoo.pixels import to_unit_range


def conditional_generator(
    latent_dim, num_classes, image_shape, output_bias=None, seed=None, dropout=0.5
):
    """G(z, y) of the paper's MNIST experiment."""
    z = keras.Input((latent_dim,), name="z")
    y = keras.Input((num_classes,), name="label")

    def dense(units, i, activation="relu", **kwargs):
        return layers.Dense(
            units,
            activation=activation,
            name=f"h{i}",
            kernel_initializer=uniform_init(0.05, None if seed is None else seed + i),
            **kwargs,
        )

    h = layers.Concatenate()([dense(200, 0)(z), dense(1000, 1)(y)])
    h = layers.Dropout(dropout, seed=seed)(h)
    h = layers.Dropout(dropout, seed=None if seed is None else seed + 7)(dense(1200, 2)(h))
    bias = (
        "zeros"
        if output_bias is None
        else keras.initializers.Constant(np.reshape(output_bias, -1).tolist())
    )
    x = dense(
        int(np.prod(image_shape)),
        3,
        activation="sigmoid",
        bias_initializer=bias,
        dtype=OUTPUT_DTYPE,
    )(h)
    x = layers.Reshape(tuple(image_shape), dtype=OUTPUT_DTYPE)(x)
    return keras.Model([z, y], x, name="generator")


def conditional_discriminator(image_shape, num_classes, seed=None, dropout=0.5):
    """D(x, y) of the paper's MNIST experiment: logits [N, 1]."""
    x = keras.Input(tuple(image_shape), name="image")
    y = keras.Input((num_classes,), name="label")

    def maxout(units, pieces, i):
        return Maxout(
            units,
            pieces,
            name=f"h{i}",
            kernel_initializer=uniform_init(0.005, None if seed is None else seed + i),
        )

    def drop(h, i):
        return layers.Dropout(dropout, seed=None if seed is None else seed + 100 + i)(h)

    h = layers.Concatenate()(
        [drop(maxout(240, 5, 0)(layers.Flatten()(x)), 0), drop(maxout(50, 5, 1)(y), 1)]
    )
    h = drop(maxout(240, 4, 2)(h), 2)
    logit = layers.Dense(
        1,
        name="logit",
        dtype=OUTPUT_DTYPE,
        kernel_initializer=uniform_init(0.005, None if seed is None else seed + 3),
    )(h)
    return keras.Model([x, y], logit, name="discriminator")


@keras.saving.register_keras_serializable("gan_zoo")
class CGAN(GAN):
    """G(z, y) and D(x, y), trained by the GAN's Algorithm 1 and losses; the
    label count is the size of G's second input."""

    conditional = True

    paper_defaults = dict(GAN.paper_defaults, lr_decay=1.00004, min_learning_rate=1e-6)

    def __init__(self, generator, discriminator, latent_dim, **kwargs):
        super().__init__(generator, discriminator, latent_dim, **kwargs)
        self.num_classes = int(self.generator.inputs[1].shape[-1])

    @classmethod
    def build_networks(cls, config, source):
        require_labels(source, f"--model={config.model}")
        return (
            conditional_generator(
                config.latent_dim,
                source.num_classes,
                source.image_shape,
                output_bias=networks.mean_image_logit(source),
                seed=config.seed,
            ),
            conditional_discriminator(
                source.image_shape, source.num_classes, seed=config.seed + 1000
            ),
        )

    def one_hot(self, labels):
        return tf.one_hot(labels, self.num_classes)

    def generate_from(self, z, batch, training):
        return self.generator([z, self.one_hot(batch["label"])], training=training)

    def discriminate(self, images, batch, training):
        logits = self.discriminator([images, self.one_hot(batch["label"])], training=training)
        return tf.reshape(logits, [-1])

    def call(self, inputs, training=False):
        z, labels = inputs
        return self.generator([z, self.one_hot(labels)], training=training)

    @staticmethod
    def block_labels(num, num_classes):
        """0, ..., 0, 1, ..., 1, ...: ``num`` labels in K equal runs, so a
        square grid of K rows shows one class per row."""
        return tf.cast(tf.range(num) * num_classes // num, tf.int32)

    def preview(self, num, seed):
        z = self.prior.stateless_sample((num, self.latent_dim), tf.constant([seed, 0]))
        images = self((z, self.block_labels(num, self.num_classes)), training=False)
        return to_unit_range(images, self.output_range)

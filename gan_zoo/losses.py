"""Loss functions. Pure functions of logits returning per-example losses.

Every loss here is computed from logits with softplus, never as log(sigmoid),
so it stays finite when the discriminator saturates. Per-example values are
reduced with :func:`average`, the one place that knows about tf.distribute.
"""

from __future__ import annotations

import math

import tensorflow as tf


def average(per_example: tf.Tensor) -> tf.Tensor:
    """Mean over the *global* batch, for a loss computed on one replica's batch.

    Under tf.distribute each replica sees batch/R examples and the optimizer
    sums the replicas' gradients, so dividing by the global batch (R times
    the local one) makes a multi-replica step equal a single-replica step on
    the same examples. With the default strategy this is a plain mean.
    """
    return tf.nn.compute_average_loss(tf.reshape(per_example, [-1]))


def replica_mean(averaged: tf.Tensor) -> tf.Tensor:
    """Undoes :func:`average`'s division by the replica count, for reporting:
    the mean loss over this replica's examples."""
    return averaged * tf.distribute.get_strategy().num_replicas_in_sync


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """-[log D(x) + log(1 - D(G(z)))] per example (Goodfellow et al. 2014, eq. 1).

    log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l) for logit l.
    The authors' Theano code halves this (0.5 * (cost_real + cost_fake)); we
    keep the paper's form, which doubles the effective D step of that code.
    """
    return tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)


def generator_loss_minimax(fake_logits: tf.Tensor) -> tf.Tensor:
    """log(1 - D(G(z))): the generator's side of the minimax game (Algorithm 1).

    Its gradient vanishes as D(G(z)) -> 0, i.e. early in training when D
    rejects samples confidently.
    """
    return -tf.nn.softplus(fake_logits)


def generator_loss_non_saturating(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(z)): the paper's practical alternative (Section 3), and what the
    authors' code trains. Same fixed point, strong gradients when D(G(z)) ~ 0."""
    return tf.nn.softplus(-fake_logits)


GENERATOR_LOSSES = {
    "minimax": generator_loss_minimax,
    "non_saturating": generator_loss_non_saturating,
}


# ----- autoencoders ------------------------------------------------------------


def _flat(images):
    return tf.reshape(images, [tf.shape(images)[0], -1])


def bernoulli_nll(images, probabilities):
    """-log p(x|z) in nats per example for a Bernoulli decoder: binary
    cross-entropy summed over pixels (x in [0, 1]; p clipped off 0 and 1)."""
    x, p = _flat(images), tf.clip_by_value(_flat(probabilities), 1e-7, 1.0 - 1e-7)
    return -tf.reduce_sum(x * tf.math.log(p) + (1.0 - x) * tf.math.log1p(-p), axis=1)


def gaussian_nll(images, means, log_scale):
    """-log N(x; mean, exp(log_scale)^2) in nats per example, summed over pixels.

    ``log_scale`` broadcasts against the flattened pixels (a scalar or one per pixel)."""
    x, mu = _flat(images), _flat(means)
    log_scale = tf.reshape(log_scale, [1, -1])
    per_pixel = (
        0.5 * tf.square((x - mu) * tf.exp(-log_scale)) + log_scale + 0.5 * math.log(2.0 * math.pi)
    )
    return tf.reduce_sum(per_pixel + tf.zeros_like(x), axis=1)


def reconstruction_loss(images, reconstructions, kind: str = "bce"):
    """Per-example reconstruction error averaged over pixels: ``bce`` (binary
    cross-entropy, for [0, 1] pixels and sigmoid outputs) or ``mse``.

    The mean, not the sum, over pixels keeps learning rates independent of the
    image size; the VAE, which needs nats, uses the summed likelihoods above."""
    pixels = tf.cast(tf.shape(_flat(images))[1], tf.float32)
    if kind == "bce":
        return bernoulli_nll(images, reconstructions) / pixels
    if kind == "mse":
        return tf.reduce_mean(tf.square(_flat(images) - _flat(reconstructions)), axis=1)
    raise ValueError(f"unknown reconstruction loss {kind!r}; use bce or mse.")


RECONSTRUCTION_LOSSES = ("bce", "mse")


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) per example, in nats (analytic).

    Reduce it with :func:`average` like any per-example loss: that is what
    makes it scale correctly for the global batch under tf.distribute."""
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=1)

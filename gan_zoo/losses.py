"""Loss functions. Pure functions of logits returning per-example losses.

Every loss here is computed from logits with softplus, never as log(sigmoid),
so it stays finite when the discriminator saturates. Per-example values are
reduced with :func:`average`, the one place that knows about tf.distribute.
"""

from __future__ import annotations

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

"""Loss functions. Pure functions of logits returning per-example losses.

Every loss here is computed from logits with softplus, never as log(sigmoid),
so it stays finite when the discriminator saturates. Per-example values are
reduced with :func:`average`, the one place that knows about tf.distribute.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import keras
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


def critic_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """D(G(z)) - D(x) per example: the critic of a Wasserstein GAN (Arjovsky et
    al. 2017; Gulrajani et al. 2017, Algorithm 1) maximises E[D(x)] - E[D(G(z))],
    an estimate of the Wasserstein-1 distance when D is 1-Lipschitz. Its
    outputs are scores, not logits of a probability."""
    return fake_scores - real_scores


def critic_generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
    """-D(G(z)): the generator raises the critic's score of its samples."""
    return -fake_scores


@dataclasses.dataclass(frozen=True)
class Adversarial:
    """An adversarial objective: the discriminator's loss and the generator's,
    per example, from D's outputs; and how D's outputs read."""

    discriminator: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]
    # True: D's output is the logit of P(real), reported as sigmoid(logit);
    # False: a critic's score, reported as it is.
    probabilities: bool = True

    def report(self, outputs: tf.Tensor) -> tf.Tensor:
        """D's outputs as logged and served: probabilities, or critic scores."""
        return tf.sigmoid(outputs) if self.probabilities else outputs

    def served(self, outputs: tf.Tensor) -> dict:
        """The ``discriminate`` signature's outputs: P(real) and its logit, or
        the critic's score."""
        if self.probabilities:
            return {"probability": tf.sigmoid(outputs), "logit": outputs}
        return {"score": outputs}


# --adversarial_loss. Eq. (1) trains D in both of the paper's games; they
# differ in G's loss only.
ADVERSARIAL = {
    "minimax": Adversarial(discriminator_loss, generator_loss_minimax),
    "non_saturating": Adversarial(discriminator_loss, generator_loss_non_saturating),
    "wasserstein": Adversarial(critic_loss, critic_generator_loss, probabilities=False),
}


def gradient_penalty(
    critic: Callable[[tf.Tensor], tf.Tensor], real: tf.Tensor, fake: tf.Tensor, uniform: tf.Tensor
) -> tf.Tensor:
    """(||grad D(x_hat)||_2 - 1)^2 per example at x_hat = u x + (1 - u) G(z), u ~ U(0, 1)
    per example (Gulrajani et al. 2017, eq. 3): the soft 1-Lipschitz
    constraint of WGAN-GP, enforced along lines between real and generated
    samples.

    Args:
      critic: images -> scores [N].
      real, fake: two minibatches of the same shape.
      uniform: u, [N] draws from U(0, 1).
    """
    u = tf.reshape(tf.cast(uniform, real.dtype), [-1] + [1] * (len(real.shape) - 1))
    between = u * real + (1.0 - u) * tf.stop_gradient(fake)
    with tf.GradientTape() as tape:
        tape.watch(between)
        scores = critic(between)
    grads = tf.reshape(tape.gradient(scores, between), [tf.shape(real)[0], -1])
    norms = tf.sqrt(tf.reduce_sum(tf.square(tf.cast(grads, tf.float32)), axis=1) + 1e-12)
    return tf.square(norms - 1.0)


# --penalty: a term added to D's loss, weighted by --penalty_weight.
PENALTIES = {"none": None, "gradient": gradient_penalty}


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


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, diag(exp(log_var))) per example, in nats."""
    return -0.5 * tf.reduce_sum(
        math.log(2.0 * math.pi) + log_var + tf.square(z - mean) * tf.exp(-log_var), axis=1
    )


def monte_carlo_kl(z, mean, log_var, log_prior):
    """One-sample estimate of KL(q(z|x) || p(z)) per example, in nats:
    log q(z|x) - log p(z) at a z drawn from q(z|x) = N(mean, diag(exp(log_var))).

    For a prior without a closed-form KL (the AAE paper's mixture of 10 2-D
    Gaussians, which its Fig. 2 gives the VAE too): unbiased, and, with z
    reparameterised, differentiable in the encoder's outputs (Kingma &
    Welling 2013, eq. 6's generic estimator).

    Args:
      z: [N, d], drawn from q(z|x) as mean + exp(log_var / 2) * eps.
      mean, log_var: [N, d], q(z|x)'s parameters.
      log_prior: function [N, d] -> [N], log p(z).
    """
    return gaussian_log_density(z, mean, log_var) - log_prior(z)


def cluster_head_cost(heads, threshold: float):
    """The AAE paper's cost on its cluster heads (Makhzani et al. 2015, Sec. 7,
    Fig. 10): zero for two heads at least ``threshold`` (eta) apart, and
    linear in their Euclidean distance when closer, summed over every pair:

        sum_{i < j} max(0, eta - ||w_i - w_j||)

    so that the heads of the dimensionality-reduction AAE's m clusters spread
    apart until each pair is eta apart. The distance is taken as
    sqrt(|w_i - w_j|^2 + 1e-12), whose gradient stays finite when two heads
    coincide (at the start, or by accident).

    Args:
      heads: [m, n], the rows of W_c.
      threshold: eta.

    Returns:
      scalar float32.
    """
    heads = tf.convert_to_tensor(heads, tf.float32)
    differences = heads[:, tf.newaxis, :] - heads[tf.newaxis, :, :]
    distances = tf.sqrt(tf.reduce_sum(tf.square(differences), axis=-1) + 1e-12)
    m = tf.shape(heads)[0]
    # Each pair once: the strict upper triangle of the [m, m] distances.
    pairs = tf.linalg.band_part(tf.ones((m, m)), 0, -1) - tf.linalg.band_part(tf.ones((m, m)), 0, 0)
    return tf.reduce_sum(pairs * tf.nn.relu(threshold - distances))


def contractive_penalty(encode, images):
    """||dh/dx||_F^2 per example: the squared Frobenius norm of the Jacobian of
    the code h = ``encode(x)`` with respect to the input (Rifai et al. 2011,
    "Contractive auto-encoders", ICML), exactly: one backward pass per
    code unit (tf.GradientTape.batch_jacobian). Differentiable in the
    encoder's weights when taped, as a training loss needs.

    Args:
      encode: images [N, ...] -> codes [N, d]; each example's code may depend
        on that example only (no BatchNorm across the batch).
      images: the encoder's inputs [N, ...].
    """
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        codes = encode(images)
    jacobian = tape.batch_jacobian(codes, images)
    return tf.reduce_sum(tf.square(tf.reshape(jacobian, [tf.shape(images)[0], -1])), axis=1)


def stochastic_contractive_penalty(encode, images, noise, sigma: float):
    """||h(x + sigma e) - h(x)||^2 / sigma^2 per example, e ~ N(0, I): the
    contraction penalty without a Jacobian, from the code of a noisy copy of x.

    h(x + sigma e) - h(x) = sigma J e + O(sigma^2) and E ||J e||^2 = ||J||_F^2,
    so its expectation tends to :func:`contractive_penalty` as sigma -> 0
    (the link Rifai et al. 2011 draw between their penalty and a denoising
    criterion with small Gaussian noise). Our reading: dividing by sigma^2 puts it on the exact
    penalty's scale, so that one weight lambda serves both; one draw of e
    per example and step; both codes carry gradients.

    Args:
      encode: images -> codes [N, d], as for :func:`contractive_penalty`.
      images: [N, ...].
      noise: e, standard normal, the shape of ``images``.
      sigma: the noise's standard deviation, > 0.
    """
    images = tf.convert_to_tensor(images)
    moved = encode(images + sigma * tf.cast(noise, images.dtype)) - encode(images)
    return tf.reduce_sum(tf.square(moved), axis=1) / (sigma * sigma)


def label_nll(labels, logits):
    """-log q(y|x) per example of the true labels (integers), from q's logits:
    the classification phase of both semi-supervised models."""
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def marginal_bound(bounds, logits):
    """U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)) per example: the negative
    bound of an unlabelled x with its label summed out exactly (Kingma et
    al. 2014, "Semi-supervised learning with deep generative models", eq. 7;
    the M2 model).

    Args:
      bounds: [N, K], L(x, y) for every class y: the negative bound with y observed.
      logits: [N, K], q(y|x)'s.
    """
    log_q = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=1)
    return tf.reduce_sum(tf.exp(log_q) * (tf.cast(bounds, tf.float32) + log_q), axis=1)

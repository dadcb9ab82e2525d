"""Variational autoencoder (Kingma & Welling, 2013).

The encoder gives a Gaussian posterior q(z|x) = N(mean, diag(exp(log_var)));
a z drawn by the reparameterisation z = mean + exp(log_var / 2) * eps,
eps ~ N(0, I), is decoded by a Bernoulli (``--recon_loss=bce``) or Gaussian
(``mse``, with one learned scale for all pixels) decoder, and each step
minimises the negative ELBO

    -log p(x|z) + KL(q(z|x) || N(0, I))

in nats per image (summed over pixels), with the KL
weighted by a factor that can rise from 0 to 1 over ``--kl_warmup_epochs``
(a common remedy for posterior collapse; 0 = the paper's plain bound).
Training logs the two terms separately; every epoch the held-out test set's
negative ELBO (one posterior sample per image, a fixed seed) is logged as
``test_neg_elbo``, the number the paper's Fig. 2 plots (as a lower bound).

``--prior`` sets p(z). For the standard Gaussian the KL term is analytic;
for the others (the AAE paper's Fig. 2 sets a VAE with a mixture of 10 2-D
Gaussians beside its AAE) it has no closed form and is estimated from the
same reparameterised sample the decoder reads, log q(z|x) - log p(z)
(:func:`gan_zoo.losses.monte_carlo_kl`): unbiased, at the cost of a noisier
gradient.

Readings: Kingma & Welling's MNIST MLPs had one hidden layer of 500 units
and trained with Adagrad; we keep the width, use ReLU and Adam. Our pixels
are MNIST's grey levels in [0, 1], not binarised, so the Bernoulli
likelihood is a cross-entropy against soft targets: its nats are not
comparable with bounds on binarised MNIST.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import losses, optimizers, priors
from gan_zoo.models.ae import AE, AEHparams
from gan_zoo.models.base import prior_setting
from gan_zoo.settings import check_choice, check_non_negative, setting

# The priors with a log-density the KL estimate can use everywhere (the
# uniform one has none outside its box).
PRIORS = ("gaussian", "mixture_gaussian", "swiss_roll")


@dataclasses.dataclass(frozen=True)
class VAEHparams(AEHparams):
    """An autoencoder's hyperparameters, the prior and the KL term's warm-up."""

    kl_warmup_epochs: int = setting(
        0, "vae/cvae: the KL term's weight rises linearly from 0 to 1 over this many epochs."
    )
    prior: str = prior_setting()

    def validate(self, run) -> None:
        super().validate(run)
        check_non_negative("kl_warmup_epochs", self.kl_warmup_epochs)
        check_choice("prior", self.prior, PRIORS)
        priors.target(self.prior, self.latent_dim)  # the 2-D priors need --latent_dim=2


@keras.saving.register_keras_serializable("gan_zoo")
class VAE(AE):
    """Gaussian encoder, reparameterised sample, Bernoulli or Gaussian decoder.

    Args (besides :class:`AE`'s):
      kl_warmup_steps: steps over which the KL weight rises from 0 to 1 (0 = always 1).
      prior: name in PRIORS, p(z).
    """

    Hparams = VAEHparams

    capabilities = AE.capabilities | {"held_out_metrics"}
    held_out_names = ("neg_elbo", "recon", "kl")

    paper_defaults = dict(
        AE.paper_defaults, latent_dim=20, hidden_units=500, hidden_layers=1, epochs=50
    )

    def __init__(self, encoder, decoder, latent_dim, kl_warmup_steps=0, prior="gaussian", **kwargs):
        super().__init__(encoder, decoder, latent_dim, **kwargs)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.prior_name = prior
        self.prior = priors.target(prior, self.latent_dim, self.num_classes)
        if self.recon_loss == "mse":
            self.log_scale = self.add_weight(shape=(), initializer="zeros", name="log_scale")

    def metric_names(self):
        return ["neg_elbo", "recon_loss", "kl"]

    @classmethod
    def encoder_outputs(cls, config) -> int:
        return 2 * config.latent_dim

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch,
            prior=config.prior,
        )

    @property
    def autoencoder_variables(self):
        scale = [self.log_scale] if self.recon_loss == "mse" else []
        return super().autoencoder_variables + scale

    # ----- the posterior and the bound ---------------------------------------
    def posterior(self, images, labels=None, training=False):
        """(mean, log_var) of q(z|x), each [N, latent_dim]."""
        out = super().encode(images, labels, training)["z"]
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def encode(self, images, labels=None, training=False):
        """The posterior mean as the code z, and its log-variance."""
        mean, log_var = self.posterior(images, labels, training)
        return {"z": mean, "z_log_var": log_var}

    def nll(self, images, decoded):
        """-log p(x|z) in nats per image."""
        if self.recon_loss == "mse":
            return losses.gaussian_nll(images, decoded, self.log_scale)
        return losses.bernoulli_nll(images, decoded)

    @staticmethod
    def reparameterize(mean, log_var, noise):
        """z ~ q(z|x) as a differentiable function of (mean, log_var) and N(0, I) noise."""
        return mean + tf.exp(0.5 * log_var) * noise

    def bound_terms(self, images, labels, noise, training=False):
        """Per-example (-log p(x|z), KL) for z = reparameterize(mean, log_var, noise)."""
        mean, log_var = self.posterior(images, labels, training)
        z = self.reparameterize(mean, log_var, noise)
        decoded = self.decode({"z": z}, labels, training)
        return self.nll(images, decoded), self.kl(z, mean, log_var)

    def kl(self, z, mean, log_var):
        """KL(q(z|x) || p(z)) per example: analytic for N(0, I), else estimated at z."""
        if self.prior_name == "gaussian":
            return losses.gaussian_kl(mean, log_var)
        return losses.monte_carlo_kl(z, mean, log_var, self.prior.log_prob)

    def kl_weight(self):
        if not self.kl_warmup_steps:
            return tf.constant(1.0)
        step = tf.cast(self.ae_optimizer.iterations, tf.float32)
        return tf.minimum(1.0, step / float(self.kl_warmup_steps))

    def reconstruction_phase(self, batch):
        """One step on the (KL-weighted) negative ELBO."""
        images, labels = batch["image"], batch["label"]
        noise = priors.replica_draw(
            tf.random.stateless_normal, (tf.shape(images)[0], self.latent_dim), self.seed_generator
        )
        with tf.GradientTape() as tape:
            nll, kl = self.bound_terms(images, labels, noise, training=True)
            loss = losses.average(nll + self.kl_weight() * kl)
        variables = self.autoencoder_variables
        optimizers.descend(self.ae_optimizer, tape, loss, variables)
        self._track("neg_elbo", losses.average(nll + kl))
        self._track("recon_loss", losses.average(nll))
        self._track("kl", losses.average(kl))

    # ----- what the driver, callbacks and export use -----------------------
    def held_out_metrics(self, images, labels, batch_size=1000):
        """Mean negative ELBO of the held-out set and its two terms, nats per image."""
        terms = []
        for start in range(0, len(images), batch_size):
            x, y = images[start : start + batch_size], labels[start : start + batch_size]
            # A fixed seed per batch: the same model always gets the same score.
            noise = tf.random.stateless_normal((len(x), self.latent_dim), [start, 1])
            terms.append(np.stack([t.numpy() for t in self.bound_terms(x, y, noise)], 1))
        nll, kl = np.concatenate(terms).astype(np.float64).mean(0)
        return {"neg_elbo": float(nll + kl), "recon": float(nll), "kl": float(kl)}

    def schedule_values(self):
        return {**super().schedule_values(), "kl_weight": float(self.kl_weight())}

    def get_config(self):
        return {
            **super().get_config(),
            "kl_warmup_steps": self.kl_warmup_steps,
            "prior": self.prior_name,
        }

"""Contractive autoencoder (Rifai et al. 2011, "Contractive auto-encoders", ICML).

The reconstruction error plus lambda times a penalty on how much the code
moves with the input, ``--contraction``:

- ``jacobian``: ||dh/dx||_F^2, the squared Frobenius norm of the encoder's
  Jacobian at each training image, computed exactly (one backward pass per
  code unit: cheap for the small codes of this zoo);
- ``stochastic``: ||h(x + e) - h(x)||^2 / sigma^2 with e ~ N(0, sigma^2 I),
  ``sigma = --contraction_noise``, whose expectation tends to the Jacobian
  term as sigma shrinks; no second-order gradients.

Both are in gan_zoo/losses.py; ``--contraction_weight`` is lambda, on the
scale of our reconstruction loss (a mean over pixels, so 1/784 of Rifai et
al.'s summed cross-entropy on MNIST). Training logs ``recon_loss``,
``contraction`` (the penalty, unweighted) and ``loss``.

Reading: the networks and the code are the AE's (so lambda = 0 is the plain
AE's step): the penalty is on its linear code, where Rifai et al. penalise
the sigmoid hidden layer of a one-layer encoder whose weights the decoder
shares. With untied weights the penalty can be paid by shrinking the whole
code and scaling the decoder's first layer up, which changes nothing that is
encoded; on MNIST (flags/cae_mnist.flags, 300 steps) lambda = 1e-3 cut the
penalty from about 100 to 1 at no cost in reconstruction (0.215 against
0.216), which is that. A bounded code would rule it out but was worse: a
tanh 2-D code saturated within the first hundred Adam steps, even at lambda
= 0, and stopped learning (0.26 after 300 steps).

Every epoch the run draws, besides the autoencoder's pictures (the 2-D code
of held-out digits, for ``--latent_dim=2``), test digits with Gaussian noise
of std NOISY_DIGITS_STD, their reconstructions and the originals (the
denoising autoencoder's picture).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from gan_zoo import losses, optimizers, priors
from gan_zoo.models.ae import AE, AEHparams
from gan_zoo.settings import check_choice, check_non_negative, check_positive, setting

CONTRACTIONS = ("jacobian", "stochastic")
# The std of the Gaussian noise on the digits of the noisy-digit picture:
# visible, unlike the small noise of the stochastic penalty.
NOISY_DIGITS_STD = 0.3


@dataclasses.dataclass(frozen=True)
class CAEHparams(AEHparams):
    """An autoencoder's hyperparameters and its contraction penalty's."""

    contraction: str = setting(
        "jacobian",
        "cae: the penalty, jacobian (the exact squared Frobenius norm of dh/dx) | "
        "stochastic (||h(x + e) - h(x)||^2 / sigma^2, e ~ N(0, sigma^2 I), sigma = "
        "--contraction_noise).",
    )
    contraction_weight: float = setting(
        1e-3, "cae: lambda, the penalty's weight against the reconstruction loss."
    )
    contraction_noise: float = setting(
        0.05, "cae: sigma of the stochastic penalty's noise, on pixels in [0, 1]."
    )

    def validate(self, run) -> None:
        super().validate(run)
        check_choice("contraction", self.contraction, CONTRACTIONS)
        check_non_negative("contraction_weight", self.contraction_weight)
        check_positive("contraction_noise", self.contraction_noise)


@keras.saving.register_keras_serializable("gan_zoo")
class CAE(AE):
    """An AE whose code's sensitivity to the input is penalised.

    Args (besides :class:`AE`'s):
      contraction: one of CONTRACTIONS.
      contraction_weight: lambda.
      contraction_noise: sigma of the stochastic penalty.
    """

    Hparams = CAEHparams
    draws = AE.draws + ("denoising",)
    paper_defaults = dict(AE.paper_defaults, contraction="jacobian")
    # What the noisy-digit picture (gan_zoo/pictures.py, ``denoising``) adds.
    corruption, corruption_level = "gaussian", NOISY_DIGITS_STD

    def __init__(
        self,
        encoder,
        decoder,
        latent_dim,
        contraction="jacobian",
        contraction_weight=1e-3,
        contraction_noise=0.05,
        **kwargs,
    ):
        super().__init__(encoder, decoder, latent_dim, **kwargs)
        self.contraction = contraction
        self.contraction_weight = float(contraction_weight)
        self.contraction_noise = float(contraction_noise)

    def metric_names(self):
        return ["loss", "recon_loss", "contraction"]

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            contraction=config.contraction,
            contraction_weight=config.contraction_weight,
            contraction_noise=config.contraction_noise,
        )

    def code(self, inputs, training=False):
        """h, the code, as a function of the encoder's input alone."""
        return tf.cast(self.encoder(inputs, training=training), tf.float32)

    def penalty(self, inputs, training=False):
        """The contraction penalty of each example's code at ``inputs``."""

        def code(x):
            return self.code(x, training)

        if self.contraction == "jacobian":
            return losses.contractive_penalty(code, inputs)
        noise = priors.replica_draw(
            tf.random.stateless_normal, tf.shape(inputs), self.seed_generator
        )
        return losses.stochastic_contractive_penalty(code, inputs, noise, self.contraction_noise)

    def reconstruction_phase(self, batch):
        """Encoder and decoder minimise reconstruction + lambda * penalty."""
        inputs, targets = self.inputs_and_targets(batch)
        with tf.GradientTape() as tape:
            inputs = self.encoder_input(inputs, training=True)
            rebuilt = self.decode({"z": self.code(inputs, training=True)}, None, True)
            recon = losses.average(losses.reconstruction_loss(targets, rebuilt, self.recon_loss))
            penalty = losses.average(self.penalty(inputs, training=True))
            loss = recon + self.contraction_weight * penalty
        optimizers.descend(self.ae_optimizer, tape, loss, self.autoencoder_variables)
        self._track("loss", loss)
        self._track("recon_loss", recon)
        self._track("contraction", penalty)

    def get_config(self):
        return {
            **super().get_config(),
            "contraction": self.contraction,
            "contraction_weight": self.contraction_weight,
            "contraction_noise": self.contraction_noise,
        }

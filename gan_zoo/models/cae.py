"""Contractive autoencoder (Rifai et al. 2011, "Contractive auto-encoders", ICML).

The reconstruction error plus lambda times a penalty on how much the code
moves with the input, ``--contraction``:

- ``jacobian``: ||dh/dx||_F^2, the squared Frobenius norm of the encoder's
  Jacobian at each training image, computed exactly: in Rifai et al.'s
  closed form for the tied network, else one backward pass per code unit;
- ``stochastic``: ||h(x + e) - h(x)||^2 / sigma^2 with e ~ N(0, sigma^2 I),
  ``sigma = --contraction_noise``, whose expectation tends to the Jacobian
  term as sigma shrinks; no second-order gradients.

Both are in gan_zoo/losses.py; ``--contraction_weight`` is lambda, on the
scale of our reconstruction loss (a mean over pixels, so 1/784 of Rifai et
al.'s summed cross-entropy on MNIST). Training logs ``recon_loss``,
``contraction`` (the penalty, unweighted) and ``loss``.

Reading: Rifai et al. penalise the sigmoid hidden layer h = s(W x + b) of a
one-layer encoder whose weights the decoder shares, s(W^T h + c):
``--architecture=tied`` builds that network (gan_zoo/networks.py), with
``--latent_dim`` units, and its penalty takes their closed form. The tying
matters. With the AE's untied networks (``mlp``, ``conv``: the penalty is on
their linear code) it can be paid by shrinking the code and scaling the
decoder's first layer up, which changes nothing that is encoded: on MNIST
(2-D code, 300 steps) lambda = 1e-3 cut the penalty from about 100 to 1 at
no cost in reconstruction (0.215 against 0.216). Tied, the decoder reads
the same W, so a smaller W costs reconstruction, and the code can only
contract by saturating, which is the paper's point.

Held-out metrics (every epoch, validation digits): the reconstruction loss,
the exact penalty, and the reconstruction loss of noisy digits against the
clean ones, which a contracting code should keep low.

Every epoch the run draws, besides the autoencoder's pictures (the 2-D code
of held-out digits, for ``--latent_dim=2``), held-out digits with Gaussian noise
of std NOISY_DIGITS_STD, their reconstructions and the originals (the
denoising autoencoder's picture).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import losses, networks, optimizers, priors
from gan_zoo.models.ae import AE, AEHparams
from gan_zoo.settings import check_choice, check_non_negative, check_positive, setting

CONTRACTIONS = ("jacobian", "stochastic")
# The std of the Gaussian noise on the digits of the noisy-digit picture:
# visible, unlike the small noise of the stochastic penalty.
NOISY_DIGITS_STD = 0.3


@dataclasses.dataclass(frozen=True)
class CAEHparams(AEHparams):
    """An autoencoder's hyperparameters and its contraction penalty's."""

    architectures = AEHparams.architectures + ("tied",)

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
    capabilities = AE.capabilities | {"held_out_metrics"}
    held_out_names = ("recon", "contraction", "noisy_recon")
    draws = AE.draws + ("denoising",)
    paper_defaults = dict(AE.paper_defaults, contraction="jacobian", architecture="tied")
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
        tied=False,
        **kwargs,
    ):
        super().__init__(encoder, decoder, latent_dim, **kwargs)
        self.contraction = contraction
        self.contraction_weight = float(contraction_weight)
        self.contraction_noise = float(contraction_noise)
        self.tied = bool(tied)

    def metric_names(self):
        return ["loss", "recon_loss", "contraction"]

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            contraction=config.contraction,
            contraction_weight=config.contraction_weight,
            contraction_noise=config.contraction_noise,
            tied=config.architecture == "tied",
        )

    @classmethod
    def build_networks(cls, config, source):
        if config.architecture == "tied":
            return networks.tied_autoencoder(source.image_shape, config.latent_dim)
        return super().build_networks(config, source)

    def code(self, inputs, training=False):
        """h, the code, as a function of the encoder's input alone."""
        return tf.cast(self.encoder(inputs, training=training), tf.float32)

    def jacobian_penalty(self, inputs, training=False):
        """||dh/dx||_F^2 of each example's code at ``inputs``, exactly."""
        if self.tied:
            # Rifai et al.'s closed form for h = sigmoid(W x + b): dh_j/dx_i =
            # h_j (1 - h_j) W_ij. Exact, as the generic one (a test holds them
            # equal), without one backward pass per code unit: 1000 units
            # would cost 1000 passes a step.
            h = self.code(inputs, training)
            kernel = tf.cast(self.encoder.get_layer("code").kernel, tf.float32)
            return tf.reduce_sum(tf.square(h * (1 - h)) * tf.reduce_sum(tf.square(kernel), 0), 1)
        return losses.contractive_penalty(lambda x: self.code(x, training), inputs)

    def penalty(self, inputs, training=False):
        """The contraction penalty of each example's code at ``inputs``."""
        if self.contraction == "jacobian":
            return self.jacobian_penalty(inputs, training)
        noise = priors.replica_draw(
            tf.random.stateless_normal, tf.shape(inputs), self.seed_generator
        )
        return losses.stochastic_contractive_penalty(
            lambda x: self.code(x, training), inputs, noise, self.contraction_noise
        )

    def held_out_metrics(self, images, labels, batch_size=1000):
        """What the penalty buys, per held-out image: the reconstruction loss,
        the exact ||dh/dx||_F^2, and the reconstruction loss of a noisy copy
        (Gaussian, std NOISY_DIGITS_STD, one fixed draw) against the clean image."""
        sums = np.zeros(3)
        for start in range(0, len(images), batch_size):
            x = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
            noise = tf.random.stateless_normal(tf.shape(x), [start, 2])
            terms = (
                losses.reconstruction_loss(x, self(x), self.recon_loss),
                self.jacobian_penalty(x),
                losses.reconstruction_loss(x, self(x + NOISY_DIGITS_STD * noise), self.recon_loss),
            )
            sums += [float(tf.reduce_sum(t)) for t in terms]
        return dict(zip(self.held_out_names, (sums / len(images)).tolist()))

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
        config = {
            **super().get_config(),
            "contraction": self.contraction,
            "contraction_weight": self.contraction_weight,
            "contraction_noise": self.contraction_noise,
            "tied": self.tied,
        }
        if self.tied:  # the decoder is rebuilt from the encoder it is tied to
            config["decoder"] = None
        return config

    @classmethod
    def from_config(cls, config):
        if not config.get("tied"):
            return super().from_config(config)
        encoder = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**{**config, "encoder": encoder, "decoder": networks.tied_decoder(encoder)})

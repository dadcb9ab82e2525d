"""A plain-Keras reference of a gan_zoo GAN, for benchmarks/throughput.py --side_by_side.

What a Keras user would write for the same networks: the layers are the
stock ones (gan_zoo's FusedBatchNorm becomes keras.layers.BatchNormalization
with the same settings; the Maxout layer stays, since it is nothing but a
Dense, a reshape and a max in keras.ops), the step is the Keras DCGAN
example's (one discriminator update on a real and a generated minibatch in
separate passes, then one generator update on fresh noise, both with
tf.GradientTape), the optimizers are Keras' own with the run's initial rate
and momentum held constant, and fit runs without callbacks. No schedules, no
metric trackers beyond the two losses, no tf.distribute-aware averaging.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gan_zoo import networks
from gan_zoo.errors import UserError

_bce = keras.losses.BinaryCrossentropy(from_logits=True)


def stock_layers(network: keras.Model) -> keras.Model:
    """``network``'s architecture rebuilt from stock Keras layers (fresh weights)."""

    def clone(layer):
        if isinstance(layer, networks.FusedBatchNorm):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(network, clone_function=clone)


class PeerGAN(keras.Model):
    """Generator and discriminator trained by the Keras DCGAN example's step."""

    def __init__(self, generator, discriminator, latent_dim: int, noise_limit, seed=0):
        """``noise_limit``: z ~ U(-limit, limit); None: z ~ N(0, 1)."""
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.noise_limit = latent_dim, noise_limit
        self.seed_generator = keras.random.SeedGenerator(seed)

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def noise(self, n):
        if self.noise_limit is None:
            return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        return keras.random.uniform(
            (n, self.latent_dim), -self.noise_limit, self.noise_limit, seed=self.seed_generator
        )

    def train_step(self, data):
        real = data["image"]
        n = tf.shape(real)[0]
        fake = self.generator(self.noise(n), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = _bce(tf.ones_like(real_logits), real_logits) + _bce(
                tf.zeros_like(fake_logits), fake_logits
            )
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(
                self.generator(self.noise(n), training=True), training=True
            )
            g_loss = _bce(tf.ones_like(fake_logits), fake_logits)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def _optimizer(cfg):
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1)
    return keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum)


def peer_of(model, cfg) -> PeerGAN:
    """The plain-Keras reference of ``model`` (a built gan_zoo GAN) and its Config."""
    if cfg.model not in ("gan", "dcgan") or cfg.d_steps != 1 or cfg.gan_update != "algorithm1":
        raise UserError(
            f"--side_by_side has a plain-Keras reference for the unconditional "
            f"GANs (gan, dcgan) with one D step, not --model={cfg.model} "
            f"--d_steps={cfg.d_steps} --gan_update={cfg.gan_update}."
        )
    peer = PeerGAN(
        stock_layers(model.generator),
        stock_layers(model.discriminator),
        model.latent_dim,
        getattr(model.prior, "limit", None),
        seed=cfg.seed,
    )
    peer.compile(_optimizer(cfg), _optimizer(cfg))
    return peer

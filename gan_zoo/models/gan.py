"""Generative Adversarial Nets (Goodfellow et al., 2014), Algorithm 1.

The adversarial training step that every GAN in the zoo uses (DCGAN and the
conditional GAN subclass :class:`GAN` and swap networks or inputs), and the
paper's MNIST networks: a ReLU MLP generator, a maxout discriminator with dropout.

Algorithm 1 asks for k discriminator updates, each on a *fresh* minibatch of m
data examples and m noise samples, then one generator update on fresh noise.
Keras' ``fit`` hands ``train_step`` one dataset element per call, so the
pipeline batches k*m examples per element and ``train_step`` splits them into
k disjoint minibatches of m: an epoch of N/(k*m) steps is still one pass over
the data. (Drawing k batches from an iterator inside the step would break
``steps_per_epoch`` accounting and resumption.) ``g_steps`` > 1 reverses the
ratio, several G updates on fresh noise per D update, for the paper's
warning (Sec. 4) that G trained too much without updating D collapses.

The authors' released code (adversarial/__init__.py, AdversaryCost2, as
mnist.yaml configures it) drew one noise minibatch, ran D once on it (one
dropout mask) and on one data minibatch, took both networks' gradients from
that one forward pass and applied them *simultaneously*, D's cost halved.
Algorithm 1 is the default; ``update="simultaneous"`` (--gan_update) is the
authors' update, so the two compare on the same networks and schedules.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from gan_zoo import losses, networks, optimizers, priors
from gan_zoo.errors import UserError
from gan_zoo.models.base import Hparams, ZooModel, d_learning_rate_setting
from gan_zoo.pixels import to_unit_range
from gan_zoo.settings import check_choice, check_non_negative, check_positive, setting


@dataclasses.dataclass(frozen=True)
class GANHparams(Hparams):
    """The GAN family's hyperparameters: the game, its update rule and p(z)."""

    d_steps: int = setting(
        1,
        "k of Algorithm 1: discriminator updates, each on a fresh minibatch, per generator update.",
    )
    g_steps: int = setting(
        1,
        "GANs: generator updates, each on fresh noise, per discriminator update (1 = "
        "Algorithm 1; more trains G 'too much without updating D', the paper's Helvetica "
        "scenario). Needs --d_steps=1.",
    )
    gan_update: str = setting(
        "algorithm1",
        "GANs: algorithm1 (k D steps on fresh minibatches, then one G step, as the "
        "paper writes it) | simultaneous (the authors' released code: both "
        "networks' gradients from one shared noise minibatch, applied at once, D's "
        "cost halved; needs --d_steps=1).",
    )
    adversarial_loss: str = setting(
        "non_saturating",
        "GANs: the (D loss, G loss) pair: minimax (eq. 1, G minimises log(1 - D(G(z)))) | "
        "non_saturating (eq. 1, G minimises -log D(G(z))) | wasserstein (D is a critic: "
        "it maximises E[D(x)] - E[D(G(z))], G maximises E[D(G(z))]; add --penalty=gradient).",
    )
    penalty: str = setting(
        "none",
        "GANs: a term added to D's loss: none | gradient (WGAN-GP: (||grad D||_2 - 1)^2 at "
        "random points between real and generated images, weighted by --penalty_weight).",
    )
    penalty_weight: float = setting(10.0, "GANs: weight of --penalty (WGAN-GP's lambda).")
    noise: str = setting("uniform", "Noise prior p(z) of the generator: uniform | gaussian.")
    d_learning_rate: float = d_learning_rate_setting()

    def validate(self, run) -> None:
        super().validate(run)
        check_choice("adversarial_loss", self.adversarial_loss, tuple(losses.ADVERSARIAL))
        check_choice("penalty", self.penalty, tuple(losses.PENALTIES))
        check_choice("noise", self.noise, ("uniform", "gaussian"))
        check_choice("gan_update", self.gan_update, UPDATES)
        check_positive("d_steps", self.d_steps)
        check_positive("g_steps", self.g_steps)
        if self.gan_update == "simultaneous" and (self.d_steps, self.g_steps) != (1, 1):
            raise UserError(
                f"--gan_update=simultaneous takes one D step and one G step per update; drop "
                f"--d_steps={self.d_steps} --g_steps={self.g_steps} or use --gan_update=algorithm1."
            )
        if self.d_steps > 1 and self.g_steps > 1:
            raise UserError(
                f"--d_steps={self.d_steps} --g_steps={self.g_steps}: only one network may take "
                "several updates per update of the other; set one of them to 1."
            )
        check_non_negative("penalty_weight", self.penalty_weight)
        check_non_negative("d_learning_rate", self.d_learning_rate)


@keras.saving.register_keras_serializable("gan_zoo")
class GAN(ZooModel):
    """A generator/discriminator pair trained by Algorithm 1.

    Args:
      generator: keras.Model, z [N, latent_dim] -> images in ``output_range``.
      discriminator: keras.Model, images -> logits [N, 1].
      latent_dim: size of z.
      d_steps: k, discriminator updates per generator update.
      g_steps: generator updates per discriminator update (1, or d_steps = 1).
      adversarial_loss: name in losses.ADVERSARIAL: "minimax" (eq. 1 for D,
        log(1 - D(G(z))) minimised by G), "non_saturating" (-log D(G(z)) for
        G) or "wasserstein" (a critic; see losses.critic_loss).
      penalty: name in losses.PENALTIES, a term added to D's loss ("none" or
        "gradient", WGAN-GP's penalty on interpolates).
      penalty_weight: its weight (lambda).
      noise: name of the prior p(z) in gan_zoo.priors.
      seed: seed of the model's noise stream.
      update: "algorithm1" (k D steps on fresh minibatches, then one G step)
        or "simultaneous" (the authors' code; see the module docstring).
    """

    # Goodfellow et al.'s code (adversarial/mnist.yaml): batch 100, SGD lr 0.1
    # divided by 1.000004 per update (floor 1e-6), momentum 0.5 -> 0.7 over 250
    # epochs. The yaml leaves the noise at its class default (Gaussian); we use
    # the unit-variance uniform U(-sqrt3, sqrt3) the same code offers. Epochs
    # are not in the paper; 100 on the 9,000 embedded digits (900k images)
    # give clearly readable digits in minutes on a laptop CPU (README).
    paper_defaults = dict(
        batch_size=100,
        latent_dim=100,
        d_steps=1,
        adversarial_loss="non_saturating",
        noise="uniform",
        optimizer="sgd",
        learning_rate=0.1,
        lr_decay=1.000004,
        min_learning_rate=1e-6,
        momentum=0.5,
        final_momentum=0.7,
        momentum_epochs=250,
        epochs=100,
    )
    Hparams = GANHparams
    output_range = (0.0, 1.0)
    # What the export serves (gan_zoo/signatures.py); whether G and D read a label.
    serves = ("adversarial",)
    conditional = False

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim,
        d_steps=1,
        adversarial_loss="non_saturating",
        noise="uniform",
        seed=None,
        g_steps=1,
        update="algorithm1",
        penalty="none",
        penalty_weight=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(generator, dict):
            generator = keras.saving.deserialize_keras_object(generator)
        if isinstance(discriminator, dict):
            discriminator = keras.saving.deserialize_keras_object(discriminator)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.d_steps, self.g_steps = int(d_steps), int(g_steps)
        self.adversarial_loss = adversarial_loss
        self.objective = losses.ADVERSARIAL[adversarial_loss]
        self.penalty, self.penalty_weight = penalty, float(penalty_weight)
        self.penalty_fn = losses.PENALTIES[penalty]
        self.noise = noise
        self.seed = seed
        if update not in UPDATES or (update == "simultaneous" and self.d_steps * self.g_steps > 1):
            raise ValueError(
                f"update={update!r}, d_steps={d_steps}, g_steps={g_steps}: choose one of "
                f"{UPDATES}; the simultaneous update takes one D step and one G step."
            )
        self.update = update
        self.prior = self.make_prior(noise)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        # D(x) and D(G(z)) as probabilities, or a critic's mean scores.
        d = "D" if self.objective.probabilities else "critic"
        self.d_real_tracker = keras.metrics.Mean(name=f"{d}_x")
        self.d_fake_tracker = keras.metrics.Mean(name=f"{d}_G_z")
        self.penalty_tracker = keras.metrics.Mean(name="penalty") if self.penalty_fn else None
        self.built = True  # both networks are built functional models

    def make_prior(self, name):
        """p(z); "uniform" is U(-sqrt3, sqrt3) here, as in Goodfellow's code."""
        return priors.noise(name)

    # ----- construction from a Config --------------------------------------
    @classmethod
    def examples_per_step(cls, config) -> int:
        return config.batch_size * config.d_steps

    @classmethod
    def build_networks(cls, config, source):
        """Goodfellow et al.'s MNIST networks (adversarial/mnist.yaml)."""
        generator = networks.mlp_generator(
            config.latent_dim,
            source.image_shape,
            hidden=(1200, 1200),
            init_limit=0.05,
            output_bias=networks.mean_image_logit(source),
            seed=config.seed,
        )
        discriminator = networks.maxout_discriminator(source.image_shape, seed=config.seed + 1000)
        return generator, discriminator

    @classmethod
    def model_kwargs(cls, config):
        """Constructor arguments besides the networks."""
        return dict(
            latent_dim=config.latent_dim,
            d_steps=config.d_steps,
            g_steps=config.g_steps,
            adversarial_loss=config.adversarial_loss,
            penalty=config.penalty,
            penalty_weight=config.penalty_weight,
            noise=config.noise,
            seed=config.seed,
            update=config.gan_update,
            name=config.model,
        )

    @classmethod
    def from_flags(cls, config, source, steps_per_epoch: int):
        model = cls(*cls.build_networks(config, source), **cls.model_kwargs(config))
        model.compile(
            d_optimizer=optimizers.build(
                config, steps_per_epoch * config.d_steps, config.d_learning_rate
            ),
            g_optimizer=optimizers.build(config, steps_per_epoch * config.g_steps),
        )
        return model

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        # Keras' own `optimizer` slot gets the one that steps once per
        # train_step (G's, or D's with several G steps): its update count is
        # the step count that Keras callbacks (TensorBoard's step axis),
        # checkpoints and resumption read. Passing none would make Keras
        # build an unused RMSprop over every variable.
        super().compile(optimizer=g_optimizer if self.g_steps == 1 else d_optimizer, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Slots exist before a checkpoint is restored into them.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    # ----- the networks as the training step sees them ---------------------
    # Subclasses that condition on labels override these two.
    def generate_from(self, z, batch, training):
        del batch
        return self.generator(z, training=training)

    def discriminate(self, images, batch, training):
        del batch
        return tf.reshape(self.discriminator(images, training=training), [-1])

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def sample_noise(self, m):
        return self.prior.sample((m, self.latent_dim), seed=self.seed_generator)

    # ----- Algorithm 1 ------------------------------------------------------
    def train_step(self, data):
        if self.update == "simultaneous":
            self.simultaneous_update(data)
            return self.step_logs()
        batches = split_minibatches(data, self.d_steps)
        for batch in batches:
            self.discriminator_update(batch)
        for _ in range(self.g_steps):  # G needs no data, only its shape (and labels)
            self.generator_update(batches[-1])
        return self.step_logs()

    def discriminator_update(self, batch):
        """One D ascent step on a fresh data minibatch and fresh noise."""
        real = batch["image"]
        z = self.sample_noise(tf.shape(real)[0])
        fake = self.generate_from(z, batch, training=True)
        with tf.GradientTape() as tape:
            loss, real_out, fake_out = self.discriminator_loss(real, fake, batch)
        variables = self.discriminator.trainable_variables
        optimizers.descend(self.d_optimizer, tape, loss, variables)
        self.track_discriminator(loss, real_out, fake_out)

    def discriminator_loss(self, real, fake, batch):
        """(D's loss, averaged by losses.average, with the penalty if any; D's
        outputs on ``real``; on ``fake``)."""
        real_out = self.discriminate(real, batch, training=True)
        fake_out = self.discriminate(fake, batch, training=True)
        loss = losses.average(self.objective.discriminator(real_out, fake_out))
        if self.penalty_fn is not None:
            uniform = priors.replica_draw(
                tf.random.stateless_uniform, tf.shape(real)[:1], self.seed_generator
            )
            penalty = losses.average(
                self.penalty_fn(
                    lambda images: self.discriminate(images, batch, True), real, fake, uniform
                )
            )
            self.penalty_tracker.update_state(losses.replica_mean(penalty))
            loss += self.penalty_weight * penalty
        return loss, real_out, fake_out

    def track_discriminator(self, loss, real_out, fake_out):
        """Logs D's loss, and D(x) and D(G(z)) (probabilities, or critic scores)."""
        self.d_loss_tracker.update_state(losses.replica_mean(loss))
        self.d_real_tracker.update_state(self.objective.report(real_out))
        self.d_fake_tracker.update_state(self.objective.report(fake_out))

    def generator_update(self, batch):
        """One G step on fresh noise; only the generator's variables move."""
        z = self.sample_noise(tf.shape(batch["image"])[0])
        with tf.GradientTape() as tape:
            fake = self.generate_from(z, batch, training=True)
            loss = losses.average(self.objective.generator(self.discriminate(fake, batch, True)))
        variables = self.generator.trainable_variables
        optimizers.descend(self.g_optimizer, tape, loss, variables)
        self.g_loss_tracker.update_state(losses.replica_mean(loss))

    def simultaneous_update(self, batch):
        """The authors' update: one noise minibatch and one D pass on it serve
        both networks; both gradients are taken before either is applied, and
        D's cost is halved, as in their AdversaryCost2."""
        real = batch["image"]
        z = self.sample_noise(tf.shape(real)[0])
        with tf.GradientTape(persistent=True) as tape:
            fake = self.generate_from(z, batch, training=True)
            d_loss, real_out, fake_out = self.discriminator_loss(real, fake, batch)
            d_loss *= 0.5
            g_loss = losses.average(self.objective.generator(fake_out))
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        d_grads = optimizers.gradients(self.d_optimizer, tape, d_loss, d_vars)
        g_grads = optimizers.gradients(self.g_optimizer, tape, g_loss, g_vars)
        del tape
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        # Reported unhalved, so d_loss means the same under either update.
        self.track_discriminator(2.0 * d_loss, real_out, fake_out)
        self.g_loss_tracker.update_state(losses.replica_mean(g_loss))

    @property
    def metrics(self):
        trackers = [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.d_real_tracker,
            self.d_fake_tracker,
        ]
        return trackers if self.penalty_tracker is None else [*trackers, self.penalty_tracker]

    # ----- what the driver, callbacks and export use -----------------------
    def checkpoint_items(self):
        return {"d_optimizer": self.d_optimizer, "g_optimizer": self.g_optimizer}

    def preview(self, num, seed):
        """``num`` samples in [0, 1] from a fixed seed, for the per-epoch grid."""
        z = self.prior.stateless_sample((num, self.latent_dim), tf.constant([seed, 0]))
        return to_unit_range(self.generator(z, training=False), self.output_range)

    def get_config(self):
        networks = {
            name: keras.saving.serialize_keras_object(getattr(self, name))
            for name in ("generator", "discriminator")
        }
        return {**networks, **{name: getattr(self, name) for name in CONFIG}}


# GAN's constructor arguments besides its networks, as get_config returns them.
CONFIG = ("latent_dim", "d_steps", "g_steps", "adversarial_loss", "noise", "seed", "update")
CONFIG += ("penalty", "penalty_weight", "name")


UPDATES = ("algorithm1", "simultaneous")


def split_minibatches(data, k: int):
    """Splits a batch of k*m examples into k disjoint minibatches of m (dicts of tensors)."""
    parts = {key: tf.split(value, k, axis=0) for key, value in data.items()}
    return [{key: parts[key][i] for key in parts} for i in range(k)]

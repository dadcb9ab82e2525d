"""Adversarial Autoencoders (Makhzani et al., 2015), Section 2.

An autoencoder (:class:`gan_zoo.models.ae.AE`) whose code distribution q(z)
is matched to a chosen prior p(z) by a GAN played in code space. Every
training step runs the paper's two phases, in order, on the same minibatch:

1. reconstruction: encoder and decoder minimise the reconstruction error;
2. regularization: the code discriminator learns to tell prior samples
   (positive) from codes of the minibatch (negative), then the encoder,
   acting as the generator, is updated ``g_steps`` times to fool it.

Each phase updates only its own variables, with its own optimizer. With
``conditional_prior`` the discriminator also sees the one-hot label, and the
prior sample for an example comes from its label's mixture component or
swiss-roll segment (the paper's Fig. 4). The paper trained that figure with
labels for only 10k images and an extra "no label" slot; we use every label.

A code may have several parts, each matched to its own prior by its own
discriminator (``code_names``); aae_clustering and aae_semi_supervised use
that for their categorical y and style z.

Reading of the paper's optimisation: it reports SGD with momentum, but most
reproductions (and the configuration this project ships) use Adam, lr 1e-3
for both autoencoder phases and 2e-4 for the discriminator; those are the
defaults. The generator phase uses the non-saturating loss -log D(q(z|x)).
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import tensorflow as tf

from gan_zoo import losses, optimizers, priors
from gan_zoo.models import categorical_code
from gan_zoo.models.ae import AE, AEHparams
from gan_zoo.models.base import d_learning_rate_setting, prior_setting, require_labels
from gan_zoo.settings import check_non_negative, check_positive, setting


@dataclasses.dataclass(frozen=True)
class AAEHparams(AEHparams):
    """An autoencoder's hyperparameters and its regularization phase's."""

    prior: str = prior_setting()
    conditional_prior: bool = setting(
        False,
        "AAE: the code discriminator also sees the one-hot label, and prior samples come "
        "from the label's mixture component / swiss-roll segment (the paper's Fig. 4).",
    )
    g_steps: int = setting(1, "AAE: encoder-as-generator updates per training step.")
    d_input_noise: float = setting(
        0.0,
        "AAE: std of Gaussian noise added to every code discriminator's input (prior "
        "samples and codes alike) in the regularization phase. A discriminator that "
        "sees exact one-hot prior samples drives a softmax code into saturation.",
    )
    d_input_noise_epochs: int = setting(
        0,
        "AAE: keep --d_input_noise for this many epochs from the start, then train the "
        "discriminators on clean codes (0 = keep it throughout).",
    )
    pretrain_epochs: int = setting(
        0, "AAE: epochs of reconstruction-only training before the regularization phase starts."
    )
    d_learning_rate: float = d_learning_rate_setting()
    g_learning_rate: float = setting(
        0.0, "AAE: learning rate of the encoder's generator phase; 0 = --learning_rate."
    )

    def validate(self, run) -> None:
        super().validate(run)
        # Unknown names and 2-D priors with another --latent_dim fail here,
        # before any data is loaded.
        priors.target(self.prior, self.latent_dim)
        check_positive("g_steps", self.g_steps)
        for name in (
            "pretrain_epochs",
            "d_learning_rate",
            "g_learning_rate",
            "d_input_noise",
            "d_input_noise_epochs",
        ):
            check_non_negative(name, getattr(self, name))


@keras.saving.register_keras_serializable("gan_zoo")
class AAE(AE):
    """Encoder q(z|x), decoder p(x|z) and a discriminator on codes.

    Args (besides :class:`AE`'s):
      discriminator: keras.Model, codes (+ one-hot labels if conditional) -> logits [N, 1].
      prior: name in gan_zoo.priors.TARGETS.
      conditional_prior: feed labels to the discriminator and the prior.
      g_steps: generator-phase updates per step.
      d_input_noise: std of the Gaussian noise on every discriminator input.
      noise_steps: steps with that noise, from the first (0 = all of them).
      pretrain_steps: steps of reconstruction only before regularization starts.
      y_discriminator, num_categories: a categorical code y over this many
        categories beside z, with its own discriminator (see
        gan_zoo/models/categorical_code.py); 0 = z alone.
    """

    Hparams = AAEHparams

    capabilities = AE.capabilities | {"training_callbacks"}

    paper_defaults = dict(
        batch_size=100,
        latent_dim=2,
        prior="gaussian",
        optimizer="adam",
        learning_rate=1e-3,
        d_learning_rate=2e-4,
        g_learning_rate=1e-3,
        beta_1=0.9,
        lr_decay=1.0,
        g_steps=1,
        hidden_units=1000,
        hidden_layers=3,
        epochs=20,
    )
    network_names = AE.network_names + ("discriminator",)

    def __init__(
        self,
        encoder,
        decoder,
        discriminator,
        latent_dim,
        prior="gaussian",
        num_classes=10,
        conditional_prior=False,
        g_steps=1,
        d_input_noise=0.0,
        noise_steps=0,
        pretrain_steps=0,
        y_discriminator=None,
        num_categories=0,
        **kwargs,
    ):
        super().__init__(encoder, decoder, latent_dim, num_classes, **kwargs)
        self.discriminator = discriminator
        self.prior_name, self.conditional_prior = prior, bool(conditional_prior)
        self.g_steps, self.pretrain_steps = int(g_steps), int(pretrain_steps)
        self.d_input_noise, self.noise_steps = float(d_input_noise), int(noise_steps)
        self.prior = priors.target(prior, self.latent_dim, self.num_classes)
        self.regularize, self.noisy = self._phase(0)
        self.num_categories, self.categorical = int(num_categories), None
        if self.num_categories:
            self.y_discriminator = y_discriminator
            self.categorical = categorical_code.CategoricalCode(self, self.num_categories)

    def metric_names(self):
        """recon_loss, the summed d_loss and g_loss, and each discriminator's
        mean D(prior sample) and D(code), suffixed by code name when there are several."""
        suffixes = [self._suffix(name) for name in self.code_names]
        return ["recon_loss", "d_loss", "g_loss"] + [
            f"D_{kind}{suffix}" for suffix in suffixes for kind in ("prior", "code")
        ]

    def _suffix(self, name):
        return "" if len(self.code_names) == 1 else f"_{name}"

    # ----- construction from a Config --------------------------------------
    # The name of the export signature that returns q(y|x) and its argmax,
    # for a model with a categorical code.
    categories_signature = None

    @classmethod
    def num_categories_for(cls, config, source) -> int:
        """K of the categorical code y (0: the code is z alone)."""
        del config, source
        return 0

    @classmethod
    def check_labels(cls, config, source):
        super().check_labels(config, source)
        if config.conditional_prior:
            require_labels(source, "--conditional_prior")

    @classmethod
    def build_networks(cls, config, source):
        k = cls.num_categories_for(config, source)
        if k:
            return categorical_code.build_networks(cls, config, source, k)
        label_dim = source.num_classes if config.conditional_prior else 0
        return super().build_networks(config, source) + (
            cls.mlp(config, (config.latent_dim + label_dim,), 1, name="discriminator"),
        )

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        # Unlabelled data still gets the paper's 10 mixture components / roll segments.
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            prior=config.prior,
            conditional_prior=config.conditional_prior,
            g_steps=config.g_steps,
            d_input_noise=config.d_input_noise,
            noise_steps=config.d_input_noise_epochs * steps_per_epoch,
            pretrain_steps=config.pretrain_epochs * steps_per_epoch,
            num_categories=cls.num_categories_for(config, source),
        )

    @staticmethod
    def optimizers_from_flags(config, steps_per_epoch):
        return dict(
            AE.optimizers_from_flags(config, steps_per_epoch),
            d_optimizer=optimizers.build(config, steps_per_epoch, config.d_learning_rate),
            g_optimizer=optimizers.build(
                config, steps_per_epoch * config.g_steps, config.g_learning_rate
            ),
        )

    def compile(self, ae_optimizer, d_optimizer, g_optimizer, **kwargs):
        super().compile(ae_optimizer, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.d_optimizer.build(self.discriminator_variables)
        self.g_optimizer.build(self.encoder.trainable_variables)

    def discriminators(self):
        """Code name -> the discriminator that matches that code to its prior."""
        if self.categorical is None:
            return {"z": self.discriminator}
        return {"y": self.y_discriminator, "z": self.discriminator}

    @property
    def discriminator_variables(self):
        return [v for net in self.discriminators().values() for v in net.trainable_variables]

    # ----- the regularization phase ------------------------------------------
    def discriminate(self, name, code, labels):
        """Logits of the ``name`` discriminator (with the one-hot label if
        conditional), its input blurred by ``d_input_noise``."""
        if self.noisy:
            draw = functools.partial(tf.random.stateless_normal, dtype=code.dtype)
            code = code + self.d_input_noise * priors.replica_draw(
                draw, tf.shape(code), self.seed_generator
            )
        if self.conditional_prior:
            code = tf.concat([code, self.one_hot(labels)], axis=1)
        return tf.reshape(self.discriminators()[name](code, training=True), [-1])

    def code_prior(self, name):
        return self.prior if self.categorical is None else self.categorical.prior(name)

    # ----- the code (q(y, z|x) where there is a categorical part) ------------
    def encode(self, images, labels=None, training=False):
        if self.categorical is None:
            return super().encode(images, labels, training)
        return self.categorical.encode(images, training)

    def decoder_input(self, code, labels):
        if self.categorical is None:
            return super().decoder_input(code, labels)
        return self.categorical.decoder_input(code)

    def stateless_code(self, num, seed):
        if self.categorical is None:
            return super().stateless_code(num, seed)
        return self.categorical.stateless_code(num, seed)

    @property
    def _categorical_kinds(self):
        """A categorical code's kind of signatures and of pictures, where there is one."""
        return () if self.categorical is None else ("categories",)

    @property
    def serves(self):
        return AE.serves + self._categorical_kinds

    @property
    def draws(self):
        return AE.draws + self._categorical_kinds

    def prior_samples(self, name, labels):
        """Prior draws for code ``name``, one per label (from its component if conditional)."""
        prior = self.code_prior(name)
        if self.conditional_prior:
            return prior.sample_for_labels(labels, self.seed_generator)
        return prior.sample((tf.shape(labels)[0], prior.dim), self.seed_generator)

    def discriminator_phase(self, batch):
        """Each code's discriminator: prior samples are real, encoded codes fake.

        The discriminators share no weights, so one update of their summed
        losses is each one's own update."""
        labels = batch["label"]
        code = self.encode(batch["image"], labels, training=True)
        with tf.GradientTape() as tape:
            total = 0.0
            for name in self.code_names:
                real = self.discriminate(name, self.prior_samples(name, labels), labels)
                fake = self.discriminate(name, code[name], labels)
                total += losses.average(losses.discriminator_loss(real, fake))
                self.trackers["D_prior" + self._suffix(name)].update_state(tf.sigmoid(real))
                self.trackers["D_code" + self._suffix(name)].update_state(tf.sigmoid(fake))
        variables = self.discriminator_variables
        optimizers.descend(self.d_optimizer, tape, total, variables)
        self._track("d_loss", total)

    def generator_phase(self, batch):
        """The encoder, as the generator, learns codes every discriminator calls prior."""
        labels = batch["label"]
        with tf.GradientTape() as tape:
            code = self.encode(batch["image"], labels, training=True)
            loss = tf.add_n(
                [
                    losses.average(
                        losses.generator_loss_non_saturating(
                            self.discriminate(name, code[name], labels)
                        )
                    )
                    for name in self.code_names
                ]
            )
        variables = self.encoder.trainable_variables
        optimizers.descend(self.g_optimizer, tape, loss, variables)
        self._track("g_loss", loss)

    def regularization_phase(self, batch):
        self.discriminator_phase(batch)
        for _ in range(self.g_steps):
            self.generator_phase(batch)

    def run_phases(self, batch):
        if tf.executing_eagerly():
            self.update_phase()
        self.reconstruction_phase(batch)
        # A Python decision, fixed when the step is traced: a tf.cond around
        # the optimizers' cross-replica updates cannot run under
        # tf.distribute. PhaseSwitch retraces the step when
        # pretraining ends (and when the discriminators' input noise stops).
        if self.regularize:
            self.regularization_phase(batch)

    def update_phase(self) -> bool:
        """Whether steps from now on regularize (exactly ``pretrain_steps``
        steps are reconstruction-only) and whether their discriminators see
        noisy codes (the first ``noise_steps``); True if either changed."""
        phase = self._phase(int(self.ae_optimizer.iterations.numpy()))
        changed = phase != (self.regularize, self.noisy)
        self.regularize, self.noisy = phase
        return changed

    def _phase(self, step):
        """(regularize, noisy) for a step counted from 0."""
        return (
            step >= self.pretrain_steps,
            bool(self.d_input_noise) and (not self.noise_steps or step < self.noise_steps),
        )

    def training_callbacks(self):
        return [PhaseSwitch()]

    def get_config(self):
        return {
            **super().get_config(),
            "prior": self.prior_name,
            "conditional_prior": self.conditional_prior,
            "g_steps": self.g_steps,
            "d_input_noise": self.d_input_noise,
            "noise_steps": self.noise_steps,
            "pretrain_steps": self.pretrain_steps,
            "num_categories": self.num_categories,
        }

    def checkpoint_items(self):
        return {
            **super().checkpoint_items(),
            "d_optimizer": self.d_optimizer,
            "g_optimizer": self.g_optimizer,
        }


class PhaseSwitch(keras.callbacks.Callback):
    """Retraces the AAE's training step when reconstruction-only pretraining
    ends or the discriminators' input noise stops (checked when training
    starts, so a resumed run picks the right step, and at every epoch, the
    unit --pretrain_epochs and --d_input_noise_epochs count in)."""

    def on_train_begin(self, logs=None):
        self.on_epoch_begin(None)

    def on_epoch_begin(self, epoch, logs=None):
        if self.model.update_phase():
            self.model.make_train_function(force=True)

"""Adversarial Autoencoders (Makhzani et al., 2015), Section 2.

An autoencoder whose code distribution q(z) is matched to a chosen prior p(z)
by a GAN played in code space. Every training step runs the paper's two
phases, in order, on the same minibatch:

1. reconstruction: encoder and decoder minimise the reconstruction error;
2. regularization: the code discriminator learns to tell prior samples
   (positive) from codes of the minibatch (negative), then the encoder,
   acting as the generator, is updated ``g_steps`` times to fool it.

Each phase updates only its own variables, with its own optimizer. With
``conditional_prior`` the discriminator also sees the one-hot label, and the
prior sample for an example comes from its label's mixture component or
swiss-roll segment (the paper's Fig. 4). The paper trained that figure with
labels for only 10k images and an extra "no label" slot; we use every label.

Reading of the paper's optimisation: it reports SGD with momentum, but most
reproductions (and the configuration this project ships) use Adam, lr 1e-3
for both autoencoder phases and 2e-4 for the discriminator; those are the
defaults. The generator phase uses the non-saturating loss -log D(q(z|x)).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import losses, networks, optimizers, priors, visualization
from gan_zoo.datasets.pipeline import from_unit_range, to_unit_range
from gan_zoo.errors import UserError


def reconstruction_loss(images, reconstructions):
    """Binary cross-entropy per example, averaged over pixels (images in [0, 1])."""
    flat_x = tf.reshape(images, [tf.shape(images)[0], -1])
    flat_r = tf.reshape(reconstructions, [tf.shape(images)[0], -1])
    return keras.losses.binary_crossentropy(flat_x, flat_r)


@keras.saving.register_keras_serializable("gan_zoo")
class AAE(keras.Model):
    """Encoder q(z|x), decoder p(x|z) and a discriminator on codes.

    Args:
      encoder: keras.Model, images -> codes [N, latent_dim].
      decoder: keras.Model, codes -> sigmoid images.
      discriminator: keras.Model, codes (+ one-hot labels if conditional) -> logits [N, 1].
      latent_dim: size of z.
      prior: name in gan_zoo.priors.TARGETS.
      num_classes: label count (for the conditional prior and its one-hot input).
      conditional_prior: feed labels to the discriminator and the prior.
      g_steps: generator-phase updates per step.
      pretrain_steps: steps of reconstruction only before regularization starts.
      seed: seed of the prior-sample stream.
    """

    paper_defaults = dict(
        batch_size=100, latent_dim=2, prior="gaussian", optimizer="adam", learning_rate=1e-3,
        d_learning_rate=2e-4, g_learning_rate=1e-3, beta_1=0.9, lr_decay=1.0, g_steps=1,
        hidden_units=1000, hidden_layers=3, epochs=20)
    output_range = (0.0, 1.0)

    def __init__(self, encoder, decoder, discriminator, latent_dim, prior="gaussian",
                 num_classes=10, conditional_prior=False, g_steps=1, pretrain_steps=0,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.discriminator = encoder, decoder, discriminator
        self.latent_dim, self.prior_name = int(latent_dim), prior
        self.num_classes, self.conditional_prior = int(num_classes), bool(conditional_prior)
        self.g_steps, self.pretrain_steps, self.seed = int(g_steps), int(pretrain_steps), seed
        self.prior = priors.target(prior, self.latent_dim, self.num_classes)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("recon_loss", "d_loss", "g_loss", "D_prior", "D_code")}
        self.built = True

    # ----- construction from a Config --------------------------------------
    @classmethod
    def examples_per_step(cls, config) -> int:
        return config.batch_size

    @classmethod
    def check_config(cls, config) -> None:
        # Unknown names and 2-D priors with another --latent_dim fail here,
        # before any data is loaded.
        priors.target(config.prior, config.latent_dim)

    @classmethod
    def image_shape(cls, config, source):
        return source.image_shape

    # Whether the decoder reads the one-hot label besides z (aae_supervised).
    decoder_takes_label = False

    @classmethod
    def from_flags(cls, config, source, steps_per_epoch: int):
        for needed, flag in ((config.conditional_prior, "--conditional_prior"),
                             (cls.decoder_takes_label, f"--model={config.model}")):
            if needed and not source.num_classes:
                raise UserError(f"{flag} needs labels, and {source.name!r} has none; use a "
                                "labelled dataset (mnist, digits).")
        shape = source.image_shape
        width, depth, latent = config.hidden_units, config.hidden_layers, config.latent_dim
        label_dim = source.num_classes if config.conditional_prior else 0
        decoder_inputs = latent + (source.num_classes if cls.decoder_takes_label else 0)
        model = cls(
            networks.dense_stack(shape, width, depth, latent, name="encoder"),
            networks.dense_stack((decoder_inputs,), width, depth, int(np.prod(shape)), "sigmoid",
                                 output_shape=shape, name="decoder"),
            networks.dense_stack((latent + label_dim,), width, depth, 1, name="discriminator"),
            latent_dim=latent, prior=config.prior,
            # Unlabelled data still gets the paper's 10 mixture components / roll segments.
            num_classes=source.num_classes or 10,
            conditional_prior=config.conditional_prior, g_steps=config.g_steps,
            pretrain_steps=config.pretrain_epochs * steps_per_epoch, seed=config.seed,
            name=config.model)
        model.compile(
            ae_optimizer=optimizers.build(config, steps_per_epoch),
            d_optimizer=optimizers.build(config, steps_per_epoch, config.d_learning_rate),
            g_optimizer=optimizers.build(config, steps_per_epoch * config.g_steps,
                                         config.g_learning_rate))
        return model

    def compile(self, ae_optimizer, d_optimizer, g_optimizer, **kwargs):
        # Keras' own slot gets the reconstruction optimizer: it steps once
        # per train_step, which is what TensorBoard's step axis should count.
        super().compile(optimizer=ae_optimizer, **kwargs)
        self.ae_optimizer, self.d_optimizer, self.g_optimizer = (ae_optimizer, d_optimizer,
                                                                 g_optimizer)
        self.ae_optimizer.build(self.autoencoder_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.encoder.trainable_variables)

    @property
    def autoencoder_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    # ----- the pieces of a step --------------------------------------------
    def call(self, images, training=False):
        return self.decode(self.encoder(images, training=training), None, training)

    def decode(self, codes, labels, training=False):
        """p(x|z). Labels are ignored here; aae_supervised feeds them to the decoder."""
        del labels
        return self.decoder(codes, training=training)

    @staticmethod
    def cycling_labels(num, num_classes):
        """0, 1, ..., K-1, 0, 1, ...: a grid with K columns shows one class per column."""
        return tf.math.floormod(tf.range(num), num_classes)

    def discriminate(self, codes, labels):
        if self.conditional_prior:
            codes = tf.concat([codes, tf.one_hot(labels, self.num_classes)], axis=1)
        return tf.reshape(self.discriminator(codes, training=True), [-1])

    def prior_samples(self, labels):
        if self.conditional_prior:
            return self.prior.sample_for_labels(labels, self.seed_generator)
        return self.prior.sample((tf.shape(labels)[0], self.latent_dim), self.seed_generator)

    def reconstruction_phase(self, batch):
        """Encoder and decoder minimise the reconstruction error."""
        x = batch["image"]
        with tf.GradientTape() as tape:
            rebuilt = self.decode(self.encoder(x, training=True), batch["label"], True)
            loss = losses.average(reconstruction_loss(x, rebuilt))
        variables = self.autoencoder_variables
        self.ae_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._track("recon_loss", loss)

    def discriminator_phase(self, batch):
        """The code discriminator: prior samples are real, encoded codes fake."""
        labels = batch["label"]
        codes = self.encoder(batch["image"], training=True)
        with tf.GradientTape() as tape:
            real = self.discriminate(self.prior_samples(labels), labels)
            fake = self.discriminate(codes, labels)
            loss = losses.average(losses.discriminator_loss(real, fake))
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._track("d_loss", loss)
        self.trackers["D_prior"].update_state(tf.sigmoid(real))
        self.trackers["D_code"].update_state(tf.sigmoid(fake))

    def generator_phase(self, batch):
        """The encoder, as the generator, learns codes the discriminator calls prior."""
        labels = batch["label"]
        with tf.GradientTape() as tape:
            logits = self.discriminate(self.encoder(batch["image"], training=True), labels)
            loss = losses.average(losses.generator_loss_non_saturating(logits))
        variables = self.encoder.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._track("g_loss", loss)

    def regularization_phase(self, batch):
        self.discriminator_phase(batch)
        for _ in range(self.g_steps):
            self.generator_phase(batch)

    def train_step(self, data):
        regularize = self.ae_optimizer.iterations >= self.pretrain_steps
        self.reconstruction_phase(data)
        # The count is read before this step's reconstruction update, so
        # exactly pretrain_steps steps are reconstruction-only.
        tf.cond(regularize, lambda: self.regularization_phase(data) or tf.constant(True),
                lambda: tf.constant(False))
        return {m.name: m.result() for m in self.metrics}

    def _track(self, name, loss):
        self.trackers[name].update_state(losses.replica_mean(loss))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        nets = {name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in ("encoder", "decoder", "discriminator")}
        return {**nets, "latent_dim": self.latent_dim, "prior": self.prior_name,
                "num_classes": self.num_classes, "conditional_prior": self.conditional_prior,
                "g_steps": self.g_steps, "pretrain_steps": self.pretrain_steps,
                "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("encoder", "decoder", "discriminator"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    # ----- what the driver, callbacks and export use -----------------------
    def checkpoint_items(self):
        return {"ae_optimizer": self.ae_optimizer, "d_optimizer": self.d_optimizer,
                "g_optimizer": self.g_optimizer}

    def schedule_values(self):
        return {f"{name}_learning_rate": float(keras.ops.convert_to_numpy(opt.learning_rate))
                for name, opt in self.checkpoint_items().items()}

    def preview(self, num, seed):
        """Decodes ``num`` prior samples drawn from a fixed seed."""
        z = self._stateless_prior(num, tf.constant([seed, 0], tf.int64))
        labels = self.cycling_labels(num, self.num_classes)
        return to_unit_range(self.decode(z, labels), self.output_range)

    def pictures(self, images, labels):
        """Per-epoch diagnostics of held-out data: reconstructions, and for a
        2-D code the encoded set q(z) over the prior's density and the
        decoder's manifold (decodes of a grid of codes)."""
        codes = self.encoder(images, training=False)
        cols = min(10, len(images))
        n = min(50, len(images)) // cols * cols
        originals = to_unit_range(images[:n], self.output_range)
        rebuilt = to_unit_range(self.decode(codes[:n], labels[:n]), self.output_range)
        # Rows alternate: `cols` originals, then their reconstructions.
        shape = tuple(originals.shape[1:])
        pairs = tf.reshape(tf.stack([tf.reshape(originals, (n // cols, cols) + shape),
                                     tf.reshape(rebuilt, (n // cols, cols) + shape)], 1),
                           (-1,) + shape)
        pictures = {"reconstructions": visualization.image_grid(pairs.numpy(), cols=cols)}
        extent = 4.0  # every target prior puts nearly all its mass inside [-4, 4]^2
        if self.latent_dim == 2:
            pictures["latent"] = visualization.latent_scatter(
                codes.numpy(), labels.numpy(),
                lambda grid: self.prior.log_prob(tf.constant(grid)).numpy(), extent,
                title=f"q(z) of held-out data over p(z) = {self.prior_name}")
        # A label-reading decoder has no single manifold (aae_supervised draws style instead).
        if self.latent_dim == 2 and not self.decoder_takes_label:
            grid = visualization.manifold_codes(extent * 0.75, 20)
            decoded = to_unit_range(self.decode(grid, None), self.output_range)
            pictures["manifold"] = visualization.image_grid(decoded.numpy(), cols=20, pad=0)
        return pictures

    def _stateless_prior(self, num, seed):
        return self.prior.stateless_sample(tf.stack([num, self.latent_dim]), seed)

    def export_signatures(self):
        value_range, latent = self.output_range, self.latent_dim
        image_shape = tuple(self.encoder.inputs[0].shape[1:])
        images_spec = tf.TensorSpec((None,) + image_shape, tf.float32, name="images")

        @tf.function(input_signature=[images_spec])
        def encode(images):
            return {"z": self.encoder(from_unit_range(images, value_range), training=False)}

        @tf.function(input_signature=[tf.TensorSpec([None, latent], tf.float32, name="z")])
        def decode(z):
            return {"images": to_unit_range(self.decoder(z, training=False), value_range)}

        @tf.function(input_signature=[images_spec])
        def reconstruct(images):
            out = self(from_unit_range(images, value_range), training=False)
            return {"images": to_unit_range(out, value_range)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="num"),
                                      tf.TensorSpec([], tf.int64, name="seed")])
        def generate(num, seed):
            z = self._stateless_prior(num, tf.stack([seed, tf.constant(0, tf.int64)]))
            labels = self.cycling_labels(num, self.num_classes)
            return {"images": to_unit_range(self.decode(z, labels), value_range), "z": z}

        # `sample` is the name every generative export shares (sample.py uses it).
        return {"encode": encode, "decode": decode, "reconstruct": reconstruct,
                "generate": generate, "sample": generate}

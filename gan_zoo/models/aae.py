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
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}
        self.built = True

    # The code parts the discriminators each shape, and the networks a config
    # serialises; subclasses with more code parts (aae_clustering) extend them.
    code_names = ("z",)
    network_names = ("encoder", "decoder", "discriminator")

    def metric_names(self):
        """recon_loss, the summed d_loss and g_loss, and each discriminator's
        mean D(prior sample) and D(code), suffixed by code name when there are several."""
        suffixes = [""] if len(self.code_names) == 1 else [f"_{n}" for n in self.code_names]
        return ["recon_loss", "d_loss", "g_loss"] + [
            f"D_{kind}{suffix}" for suffix in suffixes for kind in ("prior", "code")]

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
        cls.check_labels(config, source)
        shape, latent = source.image_shape, config.latent_dim
        label_dim = source.num_classes if config.conditional_prior else 0
        decoder_inputs = latent + (source.num_classes if cls.decoder_takes_label else 0)
        model = cls(
            cls.mlp(config, shape, latent, name="encoder"),
            cls.mlp(config, (decoder_inputs,), int(np.prod(shape)), "sigmoid",
                    output_shape=shape, name="decoder"),
            cls.mlp(config, (latent + label_dim,), 1, name="discriminator"),
            prior=config.prior, conditional_prior=config.conditional_prior,
            **cls.common_kwargs(config, source, steps_per_epoch))
        model.compile(**cls.optimizers_from_flags(config, steps_per_epoch))
        return model

    @classmethod
    def check_labels(cls, config, source):
        for needed, flag in ((config.conditional_prior, "--conditional_prior"),
                             (cls.decoder_takes_label, f"--model={config.model}")):
            if needed and not source.num_classes:
                raise UserError(f"{flag} needs labels, and {source.name!r} has none; use a "
                                "labelled dataset (mnist, digits).")

    @staticmethod
    def mlp(config, input_shape, outputs, activation=None, output_shape=None, name=None):
        """One of the paper's MLPs: --hidden_layers ReLU layers of --hidden_units."""
        return networks.dense_stack(input_shape, config.hidden_units, config.hidden_layers,
                                    outputs, activation, output_shape=output_shape, name=name)

    @staticmethod
    def common_kwargs(config, source, steps_per_epoch):
        """Constructor arguments every AAE variant takes the same way from flags."""
        # Unlabelled data still gets the paper's 10 mixture components / roll segments.
        return dict(latent_dim=config.latent_dim, num_classes=source.num_classes or 10,
                    g_steps=config.g_steps, seed=config.seed, name=config.model,
                    pretrain_steps=config.pretrain_epochs * steps_per_epoch)

    @staticmethod
    def optimizers_from_flags(config, steps_per_epoch):
        return dict(
            ae_optimizer=optimizers.build(config, steps_per_epoch),
            d_optimizer=optimizers.build(config, steps_per_epoch, config.d_learning_rate),
            g_optimizer=optimizers.build(config, steps_per_epoch * config.g_steps,
                                         config.g_learning_rate))

    def compile(self, ae_optimizer, d_optimizer, g_optimizer, **kwargs):
        # Keras' own slot gets the reconstruction optimizer: it steps once
        # per train_step, which is what TensorBoard's step axis should count.
        super().compile(optimizer=ae_optimizer, **kwargs)
        self.ae_optimizer, self.d_optimizer, self.g_optimizer = (ae_optimizer, d_optimizer,
                                                                 g_optimizer)
        self.ae_optimizer.build(self.autoencoder_variables)
        self.d_optimizer.build(self.discriminator_variables)
        self.g_optimizer.build(self.encoder.trainable_variables)

    @property
    def autoencoder_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def discriminators(self):
        """Code name -> the discriminator that matches that code to its prior."""
        return {"z": self.discriminator}

    @property
    def discriminator_variables(self):
        return [v for net in self.discriminators().values() for v in net.trainable_variables]

    # ----- the pieces of a step --------------------------------------------
    def call(self, images, training=False):
        return self.decode(self.encode(images, training), None, training)

    def encode(self, images, training=False):
        """q(.|x) as a dict of code parts by name; here just z."""
        return {"z": self.encoder(images, training=training)}

    def decode(self, code, labels, training=False):
        """p(x|code). Labels are ignored here; aae_supervised feeds them to the decoder."""
        del labels
        return self.decoder(code["z"], training=training)

    @staticmethod
    def cycling_labels(num, num_classes):
        """0, 1, ..., K-1, 0, 1, ...: a grid with K columns shows one class per column."""
        return tf.math.floormod(tf.range(num), num_classes)

    def discriminate(self, name, code, labels):
        """Logits of the ``name`` discriminator (with the one-hot label if conditional)."""
        if self.conditional_prior:
            code = tf.concat([code, tf.one_hot(labels, self.num_classes)], axis=1)
        return tf.reshape(self.discriminators()[name](code, training=True), [-1])

    def code_prior(self, name):
        del name
        return self.prior

    def prior_samples(self, name, labels):
        """Prior draws for code ``name``, one per label (from its component if conditional)."""
        prior = self.code_prior(name)
        if self.conditional_prior:
            return prior.sample_for_labels(labels, self.seed_generator)
        return prior.sample((tf.shape(labels)[0], prior.dim), self.seed_generator)

    def reconstruction_phase(self, batch):
        """Encoder and decoder minimise the reconstruction error."""
        x = batch["image"]
        with tf.GradientTape() as tape:
            rebuilt = self.decode(self.encode(x, True), batch["label"], True)
            loss = losses.average(reconstruction_loss(x, rebuilt))
        variables = self.autoencoder_variables
        self.ae_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._track("recon_loss", loss)

    def _suffix(self, name):
        return "" if len(self.code_names) == 1 else f"_{name}"

    def discriminator_phase(self, batch):
        """Each code's discriminator: prior samples are real, encoded codes fake.

        The discriminators share no weights, so one update of their summed
        losses is each one's own update."""
        labels = batch["label"]
        code = self.encode(batch["image"], True)
        with tf.GradientTape() as tape:
            total = 0.0
            for name in self.code_names:
                real = self.discriminate(name, self.prior_samples(name, labels), labels)
                fake = self.discriminate(name, code[name], labels)
                total += losses.average(losses.discriminator_loss(real, fake))
                self.trackers["D_prior" + self._suffix(name)].update_state(tf.sigmoid(real))
                self.trackers["D_code" + self._suffix(name)].update_state(tf.sigmoid(fake))
        variables = self.discriminator_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        self._track("d_loss", total)

    def generator_phase(self, batch):
        """The encoder, as the generator, learns codes every discriminator calls prior."""
        labels = batch["label"]
        with tf.GradientTape() as tape:
            code = self.encode(batch["image"], True)
            loss = tf.add_n([
                losses.average(losses.generator_loss_non_saturating(
                    self.discriminate(name, code[name], labels)))
                for name in self.code_names])
        variables = self.encoder.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._track("g_loss", loss)

    def regularization_phase(self, batch):
        self.discriminator_phase(batch)
        for _ in range(self.g_steps):
            self.generator_phase(batch)

    def run_phases(self, batch):
        """One training step's phases, in the paper's order."""
        regularize = self.ae_optimizer.iterations >= self.pretrain_steps
        self.reconstruction_phase(batch)
        # The count is read before this step's reconstruction update, so
        # exactly pretrain_steps steps are reconstruction-only.
        tf.cond(regularize, lambda: self.regularization_phase(batch) or tf.constant(True),
                lambda: tf.constant(False))

    def train_step(self, data):
        self.run_phases(data)
        return {m.name: m.result() for m in self.metrics}

    def _track(self, name, loss):
        self.trackers[name].update_state(losses.replica_mean(loss))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        nets = {name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in self.network_names}
        return {**nets, "latent_dim": self.latent_dim, "prior": self.prior_name,
                "num_classes": self.num_classes, "conditional_prior": self.conditional_prior,
                "g_steps": self.g_steps, "pretrain_steps": self.pretrain_steps,
                "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.network_names:
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
        code = self.stateless_code(num, tf.constant([seed, 0], tf.int64))
        labels = self.cycling_labels(num, self.num_classes)
        return to_unit_range(self.decode(code, labels), self.output_range)

    def stateless_code(self, num, seed):
        """``num`` prior draws of every code part, from an int64 [2] seed."""
        return {"z": self.prior.stateless_sample(tf.stack([num, self.latent_dim]), seed)}

    @property
    def draws_manifold(self):
        """A manifold picture needs a 2-D code that the decoder reads alone."""
        return self.latent_dim == 2 and self.code_names == ("z",) and not self.decoder_takes_label

    def pictures(self, images, labels):
        """Per-epoch diagnostics of held-out data: reconstructions, and for a
        2-D code the encoded set q(z) over the prior's density and the
        decoder's manifold (decodes of a grid of codes)."""
        code = self.encode(images)
        cols = min(10, len(images))
        n = min(50, len(images)) // cols * cols
        originals = to_unit_range(images[:n], self.output_range)
        rebuilt = to_unit_range(self.decode({k: v[:n] for k, v in code.items()}, labels[:n]),
                                self.output_range)
        # Rows alternate: `cols` originals, then their reconstructions.
        shape = tuple(originals.shape[1:])
        pairs = tf.reshape(tf.stack([tf.reshape(originals, (n // cols, cols) + shape),
                                     tf.reshape(rebuilt, (n // cols, cols) + shape)], 1),
                           (-1,) + shape)
        pictures = {"reconstructions": visualization.image_grid(pairs.numpy(), cols=cols)}
        extent = 4.0  # every target prior puts nearly all its mass inside [-4, 4]^2
        if self.latent_dim == 2:
            pictures["latent"] = visualization.latent_scatter(
                code["z"].numpy(), labels.numpy(),
                lambda grid: self.prior.log_prob(tf.constant(grid)).numpy(), extent,
                title=f"q(z) of held-out data over p(z) = {self.prior_name}")
        if self.draws_manifold:
            grid = visualization.manifold_codes(extent * 0.75, 20)
            decoded = to_unit_range(self.decode({"z": grid}, None), self.output_range)
            pictures["manifold"] = visualization.image_grid(decoded.numpy(), cols=20, pad=0)
        return pictures

    def images_spec(self):
        image_shape = tuple(self.encoder.inputs[0].shape[1:])
        return tf.TensorSpec((None,) + image_shape, tf.float32, name="images")

    def export_signatures(self):
        value_range, latent = self.output_range, self.latent_dim

        @tf.function(input_signature=[self.images_spec()])
        def encode(images):
            return self.encode(from_unit_range(images, value_range))

        @tf.function(input_signature=[tf.TensorSpec([None, latent], tf.float32, name="z")])
        def decode(z):
            return {"images": to_unit_range(self.decode({"z": z}, None), value_range)}

        @tf.function(input_signature=[self.images_spec()])
        def reconstruct(images):
            out = self(from_unit_range(images, value_range), training=False)
            return {"images": to_unit_range(out, value_range)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="num"),
                                      tf.TensorSpec([], tf.int64, name="seed")])
        def generate(num, seed):
            code = self.stateless_code(num, tf.stack([seed, tf.constant(0, tf.int64)]))
            labels = self.cycling_labels(num, self.num_classes)
            return {"images": to_unit_range(self.decode(code, labels), value_range), **code}

        # `sample` is the name every generative export shares (sample.py uses it).
        return {"encode": encode, "decode": decode, "reconstruct": reconstruct,
                "generate": generate, "sample": generate}

"""Autoencoders: the deterministic ``ae``, and the base of every autoencoder in
the zoo (``dae``, ``vae``, ``cvae``, ``aae`` and its variants).

An encoder maps images to a code, a decoder maps codes back to sigmoid pixels
in [0, 1], and each step minimises the reconstruction error
(``--recon_loss``: ``bce`` for [0, 1] pixels, ``mse``). ``--architecture``
picks ``mlp`` (``--hidden_layers`` ReLU layers of ``--hidden_units``) or
``conv`` (two stride-2 convolutions each way).

Subclasses change one piece each, so every model reads as its difference:

- ``encode`` / ``decoder_input``: what the code is (a dict of named parts) and
  what the decoder reads (z; z and the label for the conditional models);
- ``inputs_and_targets``: what is encoded and what is rebuilt (``dae``
  corrupts the input, the target stays clean);
- ``reconstruction_phase``: the objective (``vae`` adds the KL term);
- ``run_phases``: more phases per step (``aae``'s regularization).

A plain AE has no prior, so ``generate`` decodes N(0, I) draws; how poor
those look next to a VAE's or an AAE's is the point of those models.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import losses, networks, optimizers, priors
from gan_zoo.models.base import Hparams, ZooModel, require_labels
from gan_zoo.pixels import to_unit_range
from gan_zoo.settings import check_choice, check_non_negative, check_positive, setting


@dataclasses.dataclass(frozen=True)
class AEHparams(Hparams):
    """Every autoencoder's hyperparameters: its networks and reconstruction loss."""

    # The --architecture values this family builds (a class attribute, no setting).
    architectures = ("mlp", "conv")

    hidden_units: int = setting(1000, "Autoencoders: width of every hidden layer of the MLPs.")
    hidden_layers: int = setting(
        3, "Autoencoders: hidden layers of the encoder, decoder (and discriminator)."
    )
    architecture: str = setting(
        "mlp",
        "Autoencoders: mlp (--hidden_layers x --hidden_units ReLU) | conv (two stride-2 "
        "convolutions each way) | tied (cae only: Rifai et al.'s one sigmoid layer of "
        "--latent_dim units, decoded by the transposed weights).",
    )
    recon_loss: str = setting(
        "bce",
        "Autoencoders: reconstruction loss, bce (binary cross-entropy; for the VAE a "
        "Bernoulli decoder) | mse (squared error; for the VAE a Gaussian decoder).",
    )
    input_noise: float = setting(
        0.0,
        "Autoencoders: std of Gaussian noise added to the encoder's input pixels (in "
        "[0, 1]) in every training phase, never when encoding for use; the target stays "
        "clean. The AAE paper's semi-supervised models used 0.3.",
    )

    def validate(self, run) -> None:
        super().validate(run)
        check_choice("architecture", self.architecture, self.architectures)
        check_choice("recon_loss", self.recon_loss, losses.RECONSTRUCTION_LOSSES)
        check_positive("hidden_units", self.hidden_units)
        check_positive("hidden_layers", self.hidden_layers)
        check_non_negative("input_noise", self.input_noise)


@keras.saving.register_keras_serializable("gan_zoo")
class AE(ZooModel):
    """Encoder and decoder trained to reconstruct.

    Args:
      encoder: keras.Model, images (+ one-hot labels if ``encoder_takes_label``) -> code.
      decoder: keras.Model, decoder input -> sigmoid images.
      latent_dim: size of z.
      num_classes: label count (for one-hot label inputs and pictures).
      recon_loss: "bce" or "mse".
      seed: seed of the model's random stream (noise, prior draws).
      input_noise: std of the Gaussian noise on the encoder's input in training.
    """

    # No paper fixes these; Adam and the AAE paper's MNIST widths train in minutes.
    paper_defaults = dict(
        batch_size=100,
        latent_dim=32,
        optimizer="adam",
        learning_rate=1e-3,
        beta_1=0.9,
        lr_decay=1.0,
        hidden_units=1000,
        hidden_layers=2,
        epochs=20,
    )
    output_range = (0.0, 1.0)
    Hparams = AEHparams
    network_names = ("encoder", "decoder")
    # What its export serves (gan_zoo/signatures.py) and the pictures it draws
    # every epoch (gan_zoo/pictures.py).
    serves = ("autoencoder",)
    draws = ("autoencoder",)
    # The code parts that have a prior and that the decoder reads.
    code_names = ("z",)
    # Whether the encoder / decoder read the one-hot label besides their input.
    encoder_takes_label = False
    decoder_takes_label = False

    def __init__(
        self,
        encoder,
        decoder,
        latent_dim,
        num_classes=10,
        recon_loss="bce",
        seed=None,
        input_noise=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim, self.num_classes = int(latent_dim), int(num_classes)
        self.recon_loss, self.seed = recon_loss, seed
        self.input_noise = float(input_noise)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}
        self.built = True

    def metric_names(self):
        return ["recon_loss"]

    # ----- construction from a Config --------------------------------------
    @classmethod
    def from_flags(cls, config, source, steps_per_epoch: int):
        cls.check_labels(config, source)
        networks = dict(zip(cls.network_names, cls.build_networks(config, source), strict=True))
        model = cls(**networks, **cls.model_kwargs(config, source, steps_per_epoch))
        model.compile(**cls.optimizers_from_flags(config, steps_per_epoch))
        return model

    @classmethod
    def build_networks(cls, config, source):
        """(encoder, decoder) for this model, from --architecture and the widths."""
        labels = source.num_classes or 10
        decoder_inputs = config.latent_dim + (labels if cls.decoder_takes_label else 0)
        return (
            cls.encoder_network(
                config,
                source.image_shape,
                cls.encoder_outputs(config),
                labels if cls.encoder_takes_label else 0,
            ),
            cls.decoder_network(config, source.image_shape, decoder_inputs),
        )

    @classmethod
    def encoder_outputs(cls, config) -> int:
        return config.latent_dim

    @classmethod
    def encoder_network(cls, config, image_shape, outputs, label_dim=0):
        if config.architecture == "conv":
            return networks.conv_encoder(image_shape, outputs, label_dim=label_dim)
        return cls.mlp(config, image_shape, outputs, label_dim=label_dim, name="encoder")

    @classmethod
    def decoder_network(cls, config, image_shape, inputs):
        if config.architecture == "conv":
            return networks.conv_decoder(inputs, image_shape)
        return cls.mlp(
            config,
            (inputs,),
            int(np.prod(image_shape)),
            "sigmoid",
            output_shape=image_shape,
            name="decoder",
        )

    # The hidden units of every MLP of the model.
    hidden_activation = "relu"

    @classmethod
    def mlp(
        cls,
        config,
        input_shape,
        outputs,
        activation=None,
        output_shape=None,
        label_dim=0,
        name=None,
    ):
        """An MLP of --hidden_layers layers of --hidden_units (``hidden_activation``)."""
        return networks.dense_stack(
            input_shape,
            config.hidden_units,
            config.hidden_layers,
            outputs,
            activation,
            output_shape=output_shape,
            label_dim=label_dim,
            name=name,
            hidden_activation=cls.hidden_activation,
        )

    @classmethod
    def check_labels(cls, config, source):
        if cls.encoder_takes_label or cls.decoder_takes_label:
            require_labels(source, f"--model={config.model}")

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        """Constructor arguments besides the networks."""
        del steps_per_epoch
        return dict(
            latent_dim=config.latent_dim,
            num_classes=source.num_classes or 10,
            recon_loss=config.recon_loss,
            seed=config.seed,
            input_noise=config.input_noise,
            name=config.model,
        )

    @staticmethod
    def optimizers_from_flags(config, steps_per_epoch):
        return dict(ae_optimizer=optimizers.build(config, steps_per_epoch))

    def compile(self, ae_optimizer, **kwargs):
        # Keras' own slot gets the reconstruction optimizer: it steps once
        # per train_step, which is what TensorBoard's step axis should count.
        super().compile(optimizer=ae_optimizer, **kwargs)
        self.ae_optimizer = ae_optimizer
        self.ae_optimizer.build(self.autoencoder_variables)

    @property
    def autoencoder_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    # ----- the code ----------------------------------------------------------
    def one_hot(self, labels):
        if labels is None:
            raise ValueError(f"{type(self).__name__} needs the labels as well.")
        return tf.one_hot(labels, self.num_classes)

    def encoder_input(self, images, training=False):
        """What the encoder reads: in training, the images plus N(0, input_noise^2)
        per pixel (the AAE paper's regulariser of its semi-supervised models)."""
        if not (training and self.input_noise):
            return images
        return images + self.input_noise * priors.replica_draw(
            tf.random.stateless_normal, tf.shape(images), self.seed_generator
        )

    def encode(self, images, labels=None, training=False):
        """q(.|x) as a dict of code parts by name; here just z."""
        images = self.encoder_input(images, training)
        inputs = [images, self.one_hot(labels)] if self.encoder_takes_label else images
        return {"z": self.encoder(inputs, training=training)}

    def decoder_input(self, code, labels):
        z = code["z"]
        if self.decoder_takes_label:
            return tf.concat([z, tf.cast(self.one_hot(labels), z.dtype)], axis=1)
        return z

    def decode(self, code, labels=None, training=False):
        """p(x|code); labels are read only by a label-taking decoder."""
        return self.decoder(self.decoder_input(code, labels), training=training)

    def call(self, images, training=False):
        return self.decode(self.encode(images, training=training), training=training)

    # The distribution `generate` draws z from; None: the AE has none (N(0, I) is used).
    prior = None

    def stateless_code(self, num, seed):
        """``num`` prior draws of every code part, from an int64 [2] seed."""
        return {
            "z": (self.prior or priors.Gaussian()).stateless_sample(
                tf.stack([num, self.latent_dim]), seed
            )
        }

    @staticmethod
    def cycling_labels(num, num_classes):
        """0, 1, ..., K-1, 0, 1, ...: a grid with K columns shows one class per column."""
        return tf.math.floormod(tf.range(num), num_classes)

    # ----- training ----------------------------------------------------------
    def inputs_and_targets(self, batch):
        """(what the encoder reads, what the decoder must rebuild)."""
        return batch["image"], batch["image"]

    def reconstruction_phase(self, batch):
        """Encoder and decoder minimise the reconstruction error."""
        inputs, targets = self.inputs_and_targets(batch)
        labels = batch["label"]
        with tf.GradientTape() as tape:
            rebuilt = self.decode(self.encode(inputs, labels, training=True), labels, True)
            loss = losses.average(losses.reconstruction_loss(targets, rebuilt, self.recon_loss))
        variables = self.autoencoder_variables
        optimizers.descend(self.ae_optimizer, tape, loss, variables)
        self._track("recon_loss", loss)

    def run_phases(self, batch):
        """One training step's phases, in order."""
        self.reconstruction_phase(batch)

    def train_step(self, data):
        self.run_phases(data)
        return self.step_logs()

    def _track(self, name, loss):
        self.trackers[name].update_state(losses.replica_mean(loss))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        nets = {
            name: keras.saving.serialize_keras_object(getattr(self, name))
            for name in self.network_names
        }
        return {
            **nets,
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "recon_loss": self.recon_loss,
            "seed": self.seed,
            "input_noise": self.input_noise,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.network_names:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    # ----- what the driver, callbacks and export use -----------------------
    def checkpoint_items(self):
        return {"ae_optimizer": self.ae_optimizer}

    def preview(self, num, seed):
        """Decodes ``num`` prior draws from a fixed seed (labels cycling, where read)."""
        code = self.stateless_code(num, tf.constant([seed, 0], tf.int64))
        labels = self.cycling_labels(num, self.num_classes)
        return to_unit_range(self.decode(code, labels), self.output_range)

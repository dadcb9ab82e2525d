"""Unsupervised clustering with an adversarial autoencoder (Makhzani et al. 2015, Sec. 6).

The encoder's code has two parts: a softmax y over ``--num_clusters``
categories and a continuous style z. Each part has its own discriminator
and prior: a categorical Cat(K) for y, which pushes q(y|x) towards one-hot
vectors used equally often, and ``--prior`` (Gaussian in the paper) for z.
The decoder reads [y, z]. Without labels, the categories become clusters of
the data: the style that z cannot hold, the digit's identity mostly, goes to y.

Both phases are :class:`gan_zoo.models.aae.AAE`'s: the regularization phase
updates both discriminators, then the encoder against both (the sum of the
two non-saturating losses, our reading of "the generator is updated to
confuse both"). The decoder gets the softmax y itself during training, not a
sampled one-hot vector: the paper's architecture passes q(y|x) straight on.

The cluster error (``val_cluster_error``, or ``test_`` without a validation
split) labels each cluster with the majority label of its held-out members;
see gan_zoo/evaluation/classification.py.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import priors, visualization
from gan_zoo.datasets.pipeline import from_unit_range, to_unit_range
from gan_zoo.errors import UserError
from gan_zoo.evaluation import classification
from gan_zoo.models.aae import AAE


@keras.saving.register_keras_serializable("gan_zoo")
class ClusteringAAE(AAE):
    """An AAE with a categorical code y and a style code z.

    Args (besides :class:`AAE`'s):
      y_discriminator: keras.Model, y [N, K] -> logits [N, 1].
      num_categories: K.
    """

    capabilities = AAE.capabilities | {"held_out_metrics"}

    paper_defaults = dict(AAE.paper_defaults, latent_dim=5, hidden_layers=2, num_clusters=16)
    code_names = ("y", "z")
    network_names = AAE.network_names + ("y_discriminator",)

    def __init__(self, encoder, decoder, discriminator, y_discriminator, num_categories, **kwargs):
        super().__init__(encoder, decoder, discriminator, **kwargs)
        self.y_discriminator = y_discriminator
        self.num_categories = int(num_categories)
        self.y_prior = priors.Categorical(self.num_categories)

    # ----- construction from a Config --------------------------------------
    @classmethod
    def check_config(cls, config) -> None:
        super().check_config(config)
        if config.conditional_prior:
            raise UserError(
                f"--model={config.model} learns its own categories; drop "
                "--conditional_prior (it is for the plain aae)."
            )

    @classmethod
    def num_categories_for(cls, config, source) -> int:
        return config.num_clusters

    @classmethod
    def build_networks(cls, config, source):
        k, latent = cls.num_categories_for(config, source), config.latent_dim
        return (
            cls.encoder_network(config, source.image_shape, k + latent),
            cls.decoder_network(config, source.image_shape, k + latent),
            cls.mlp(config, (latent,), 1, name="discriminator"),
            cls.mlp(config, (k,), 1, name="y_discriminator"),
        )

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            num_categories=cls.num_categories_for(config, source),
        )

    # ----- the code ----------------------------------------------------------
    def y_logits_and_z(self, images, training=False):
        out = self.encoder(self.encoder_input(images, training), training=training)
        return out[:, : self.num_categories], out[:, self.num_categories :]

    def encode(self, images, labels=None, training=False):
        del labels
        logits, z = self.y_logits_and_z(images, training)
        return {"y": tf.nn.softmax(logits), "z": z}

    def decoder_input(self, code, labels):
        del labels
        return tf.concat([code["y"], code["z"]], axis=1)

    def discriminators(self):
        return {"y": self.y_discriminator, "z": self.discriminator}

    def code_prior(self, name):
        return self.y_prior if name == "y" else self.prior

    def stateless_code(self, num, seed):
        """Categories in turn (0, 1, ..., K-1, 0, ...: exactly Cat(K)'s
        proportions, and a K-column grid shows one category per column) with
        z from its prior."""
        y = tf.one_hot(self.cycling_labels(num, self.num_categories), self.num_categories)
        return {"y": y, "z": self.prior.stateless_sample(tf.stack([num, self.latent_dim]), seed)}

    def categories(self, images):
        """argmax q(y|x): the cluster (or class) of each image."""
        return tf.argmax(self.y_logits_and_z(images)[0], axis=1, output_type=tf.int32)

    # ----- what the driver, callbacks and export use -----------------------
    def held_out_metrics(self, images, labels):
        return {
            "cluster_error": classification.cluster_error(
                self.categories(images).numpy(), labels.numpy(), self.num_categories
            )
        }

    def pictures(self, images, labels):
        """The AAE pictures plus ``categories``: one row per category, first its
        "head" (decoded with z = 0, the paper's Fig. 9), then up to ten
        held-out images the encoder puts in it; and ``style``: each row one
        held-out image's z decoded with every category as y, which shows one
        digit per column only where y, not z, carries the digit."""
        pictures = super().pictures(images, labels)
        k, per_row = self.num_categories, 10
        z = self.encode(images[:10])["z"]
        styled = self.decode({"y": tf.tile(tf.eye(k), [len(z), 1]), "z": tf.repeat(z, k, axis=0)})
        pictures["style"] = visualization.image_grid(
            to_unit_range(styled, self.output_range).numpy(), cols=k
        )
        heads = self.decode({"y": tf.eye(k), "z": tf.zeros((k, self.latent_dim))})
        rows = np.zeros((k, per_row + 1) + tuple(images.shape[1:]), np.float32)
        rows[:, 0] = to_unit_range(heads, self.output_range).numpy()
        members = self.categories(images).numpy()
        unit = to_unit_range(images, self.output_range).numpy()
        for c in range(k):
            picked = unit[members == c][:per_row]
            rows[c, 1 : 1 + len(picked)] = picked
        pictures["categories"] = visualization.image_grid(
            rows.reshape((-1,) + rows.shape[2:]), cols=per_row + 1
        )
        return pictures

    # The name of the export signature that returns q(y|x) and its argmax.
    categories_signature = "cluster"

    def export_signatures(self):
        signatures = super().export_signatures()
        value_range, latent = self.output_range, self.latent_dim

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, latent], tf.float32, name="z"),
                tf.TensorSpec([None], tf.int32, name="y"),
            ]
        )
        def decode(z, y):
            code = {"y": tf.one_hot(y, self.num_categories), "z": z}
            return {"images": to_unit_range(self.decode(code), value_range)}

        @tf.function(input_signature=[self.images_spec()])
        def categorize(images):
            logits = self.y_logits_and_z(from_unit_range(images, value_range))[0]
            return {
                "probabilities": tf.nn.softmax(logits),
                "y": tf.argmax(logits, axis=1, output_type=tf.int32),
            }

        signatures.update({"decode": decode, self.categories_signature: categorize})
        return signatures

    def get_config(self):
        return {**super().get_config(), "num_categories": self.num_categories}

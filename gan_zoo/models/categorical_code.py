"""The y-and-z code that the clustering and semi-supervised AAEs share
(Makhzani et al. 2015, Secs. 5 and 6), as a part an AAE holds.

The encoder's output is split into the logits of a softmax y over K
categories and a continuous style z. Each part has its own discriminator and
prior: a categorical Cat(K) for y, which pushes q(y|x) towards one-hot
vectors used equally often, and the AAE's ``--prior`` for z. The decoder
reads [y, z]. During training the decoder gets the softmax y itself, not a
sampled one-hot vector: the paper's architecture passes q(y|x) straight on.

The two models differ only in what K is (clusters, or the dataset's classes),
in how y is scored, and in the semi-supervised model's classification phase;
they hold this part rather than inherit it from each other.
"""

from __future__ import annotations

import tensorflow as tf

from gan_zoo import priors
from gan_zoo.errors import UserError

NAMES = ("y", "z")
# The y discriminator joins the AAE's encoder, decoder and z discriminator.
NETWORK = "y_discriminator"


def check_hparams(hparams, run) -> None:
    """The AAE settings a model with a categorical code cannot use: it learns
    its own categories, so a label-conditioned prior has no labels to follow."""
    if hparams.conditional_prior:
        raise UserError(
            f"--model={run.model} learns its own categories; drop "
            "--conditional_prior (it is for the plain aae)."
        )


def build_networks(model_cls, config, source, num_categories: int, decoder_inputs: int = 0):
    """(encoder, decoder, z discriminator, y discriminator) for K + latent_dim
    codes; the decoder reads [y, z] (K + latent_dim) or ``decoder_inputs``."""
    width = num_categories + config.latent_dim
    return (
        model_cls.encoder_network(config, source.image_shape, width),
        model_cls.decoder_network(config, source.image_shape, decoder_inputs or width),
        model_cls.mlp(config, (config.latent_dim,), 1, name="discriminator"),
        model_cls.mlp(config, (num_categories,), 1, name=NETWORK),
    )


class CategoricalCode:
    """q(y, z|x) of an AAE ``model`` whose encoder emits K logits, then z.

    Args:
      model: the AAE; its encoder (with its input noise), style prior and
        cycling labels are used.
      num_categories: K.
    """

    def __init__(self, model, num_categories: int):
        self.model, self.num_categories = model, int(num_categories)
        self.y_prior = priors.Categorical(self.num_categories)

    def logits_and_z(self, images, training=False):
        """(y's logits [N, K], z [N, latent_dim]) of ``images``."""
        model = self.model
        out = model.encoder(model.encoder_input(images, training), training=training)
        return out[:, : self.num_categories], out[:, self.num_categories :]

    def encode(self, images, training=False):
        logits, z = self.logits_and_z(images, training)
        return {"y": tf.nn.softmax(logits), "z": z}

    @staticmethod
    def decoder_input(code):
        return tf.concat([code["y"], code["z"]], axis=1)

    def prior(self, name):
        return self.y_prior if name == "y" else self.model.prior

    def stateless_code(self, num, seed):
        """Categories in turn (0, 1, ..., K-1, 0, ...: exactly Cat(K)'s
        proportions, and a K-column grid shows one category per column) with
        z from its prior."""
        k, model = self.num_categories, self.model
        y = tf.one_hot(model.cycling_labels(num, k), k)
        return {"y": y, "z": model.prior.stateless_sample(tf.stack([num, model.latent_dim]), seed)}

    def categories(self, images):
        """argmax q(y|x): the cluster (or class) of each image."""
        return tf.argmax(self.logits_and_z(images)[0], axis=1, output_type=tf.int32)

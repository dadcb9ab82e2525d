"""Semi-supervised VAE: Kingma et al. 2014's M2 ("Semi-supervised learning
with deep generative models", NIPS; arXiv 1406.5298), the generative
baseline of the AAE paper's Table 2.

The generative model is p(y) p(z) p(x|y, z), with y uniform over the classes
and z ~ N(0, I); inference is q(z|x, y) and p(x|y, z), exactly the CVAE's
networks, plus a classifier q(y|x). Every step reads an unlabelled minibatch
and a labelled one (``--num_labels`` class-balanced examples, as for
``aae_semi_supervised``) and minimises, in nats per image,

    mean_u U(x) + (N_l / N) mean_l L(x, y) + alpha mean_l [-log q(y|x)]

with L(x, y) = -log p(x|y, z) + KL(q(z|x, y) || p(z)), the CVAE's bound with
y observed, and U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)) the bound with y
summed out: exactly, over every class, by decoding the unlabelled minibatch
once per class (:func:`gan_zoo.losses.marginal_bound`). This is the paper's
eq. 9 with its alpha = 0.1 N, divided by N as the authors' released code
(learn_yz_x_ss.py) computes it: the labelled bound weighted by N_l / N, the
classification loss by ``--classification_weight`` (0.1). One optimizer
updates all three networks, as in the paper. The classifier learns from U
(which rewards putting q(y|x) on the classes whose bound is best) and from
the labels; the decoder never sees the classification loss.

Export: ``classify`` (q(y|x) and its argmax), ``encode`` (images -> y = q(y|x),
and z's posterior given the most probable class), ``decode`` (z and a class
y), ``reconstruct`` and ``generate_for_labels`` (with a label), ``generate``
/ ``sample``. Every epoch the validation error of q(y|x) is logged
(``--keep_best=error``), and the style picture (one held-out digit's z a
row, decoded with every class) is drawn.

Readings: the paper's M2 MLPs (one hidden layer of 500 softplus units for
q(z|x, y), p(x|y, z) and q(y|x), a 50-D z, Adam with rate 3e-4, beta_1 0.9,
beta_2 0.999) are the defaults; Adam's batch of 100 holds 100 unlabelled and
100 labelled images. The constant log p(y) = -log K is left out of both
bounds. MNIST is not binarised unless ``--binarize``: pixels are grey levels, the
Bernoulli likelihood a cross-entropy against them. The paper's Gaussian prior on the
weights (a weight decay of 1/N) is left out.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import label_errors, losses, networks, optimizers, priors
from gan_zoo.models.base import (
    classification_only_setting,
    num_labels_setting,
    require_labels,
)
from gan_zoo.models.cvae import CVAE
from gan_zoo.models.vae import VAEHparams
from gan_zoo.settings import check_non_negative, setting


@dataclasses.dataclass(frozen=True)
class SemiSupervisedVAEHparams(VAEHparams):
    """A VAE's hyperparameters, the labelled subset and the classification weight."""

    num_labels: int = num_labels_setting()
    classification_only: bool = classification_only_setting()
    binarize: bool = setting(
        False,
        "vae_semi_supervised: train on binary pixels, each drawn anew every step as "
        "Bernoulli(its grey level) (dynamic binarisation, as the paper's MNIST).",
    )
    classification_weight: float = setting(
        0.1,
        "vae_semi_supervised: alpha, the weight of the labelled examples' -log q(y|x) "
        "per image (Kingma et al. 2014's alpha = 0.1 N, divided by N).",
    )

    def validate(self, run) -> None:
        super().validate(run)
        check_non_negative("num_labels", self.num_labels, " (0 = all labels)")
        check_non_negative("classification_weight", self.classification_weight)


class ClassPosterior:
    """q(y|x) as gan_zoo/signatures.py's ``categories`` kind reads a
    categorical code: its size and its logits (with z, given the argmax)."""

    def __init__(self, model):
        self.model, self.num_categories = model, model.num_classes

    def logits_and_z(self, images, training=False):
        logits = self.model.class_logits(images, training)
        classes = tf.argmax(logits, axis=1, output_type=tf.int32)
        return logits, self.model.posterior(images, classes, training)[0]


@keras.saving.register_keras_serializable("gan_zoo")
class SemiSupervisedVAE(CVAE):
    """q(y|x), q(z|x, y), p(x|y, z), trained on labelled and unlabelled minibatches.

    Args (besides :class:`gan_zoo.models.vae.VAE`'s):
      classifier: keras.Model, images -> K logits of q(y|x).
      labelled_share: N_l / N, the labelled bound's weight.
      classification_weight: alpha.
    """

    Hparams = SemiSupervisedVAEHparams
    capabilities = CVAE.capabilities | {"labelled_subset"}
    held_out_names = ("error",)
    network_names = ("encoder", "decoder", "classifier")
    serves = CVAE.serves + ("categories",)
    categories_signature = "classify"
    # q(z|x, y) reads a label, but encode() takes q(y|x)'s most probable
    # class when given none: the export's encode reads images alone.
    encoder_takes_label = False
    hidden_activation = "softplus"

    paper_defaults = dict(
        CVAE.paper_defaults,
        latent_dim=50,
        hidden_units=500,
        hidden_layers=1,
        learning_rate=3e-4,
        beta_1=0.9,
        beta_2=0.999,
        batch_size=100,
        num_labels=100,
    )

    def __init__(
        self,
        encoder,
        decoder,
        classifier,
        latent_dim,
        labelled_share=1.0,
        classification_weight=0.1,
        classification_only=False,
        binarize=False,
        **kwargs,
    ):
        super().__init__(encoder, decoder, latent_dim, **kwargs)
        self.classifier = classifier
        self.labelled_share = float(labelled_share)
        self.classification_weight = float(classification_weight)
        self.classification_only = bool(classification_only)
        self.binarize = bool(binarize)
        self.categorical = ClassPosterior(self)

    def metric_names(self):
        return ["loss", "unlabelled_bound", "labelled_bound", "class_loss"]

    # ----- construction from a Config --------------------------------------
    @classmethod
    def check_labels(cls, config, source):
        require_labels(source, f"--model={config.model}")

    @classmethod
    def build_networks(cls, config, source):
        """(encoder q(z|x, y), decoder p(x|y, z), classifier q(y|x))."""
        k, shape = source.num_classes, source.image_shape
        if config.architecture == "conv":
            classifier = networks.conv_encoder(shape, k, name="classifier")
        else:
            classifier = cls.mlp(config, shape, k, name="classifier")
        return (
            cls.encoder_network(config, shape, 2 * config.latent_dim, k),
            cls.decoder_network(config, shape, config.latent_dim + k),
            classifier,
        )

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        total = source.num_examples("train")
        if config.max_examples:
            total = min(total, config.max_examples)
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            labelled_share=min(1.0, (config.num_labels or total) / total),
            classification_weight=config.classification_weight,
            classification_only=config.classification_only,
            binarize=config.binarize,
        )

    @classmethod
    def labelled_subset(cls, config) -> int:
        """How many labelled training examples feed the labelled terms (0 = all)."""
        return config.num_labels

    @property
    def autoencoder_variables(self):
        # The one optimizer of the paper steps every network.
        return super().autoencoder_variables + self.classifier.trainable_variables

    # ----- q(y|x), q(z|x, y), p(x|y, z) ----------------------------------------
    def class_logits(self, images, training=False):
        """q(y|x)'s logits [N, K]."""
        return self.classifier(self.encoder_input(images, training), training=training)

    def posterior(self, images, labels=None, training=False):
        """(mean, log_var) of q(z|x, y), each [N, latent_dim]."""
        inputs = [self.encoder_input(images, training), self.one_hot(labels)]
        out = self.encoder(inputs, training=training)
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def encode(self, images, labels=None, training=False):
        """y = q(y|x), and z's posterior mean and log-variance given ``labels``,
        or, without them, given q(y|x)'s most probable class."""
        logits = self.class_logits(images, training)
        if labels is None:
            labels = tf.argmax(logits, axis=1, output_type=tf.int32)
        mean, log_var = self.posterior(images, labels, training)
        return {"y": tf.nn.softmax(logits), "z": mean, "z_log_var": log_var}

    def decoder_input(self, code, labels):
        """[z, y]: y one-hot from ``labels``, else the code's own y."""
        z = code["z"]
        y = code["y"] if labels is None else self.one_hot(labels)
        return tf.concat([z, tf.cast(y, z.dtype)], axis=1)

    # ----- the objective -------------------------------------------------------
    def _normal(self, rows):
        return priors.replica_draw(
            tf.random.stateless_normal, (rows, self.latent_dim), self.seed_generator
        )

    def binary(self, images):
        """Each pixel 1 with probability its grey level, drawn anew per call."""
        uniform = priors.replica_draw(
            tf.random.stateless_uniform, tf.shape(images), self.seed_generator
        )
        return tf.cast(uniform < images, images.dtype)

    def class_bounds(self, images, training=False):
        """L(x, y) for every image and every class y, [N, K]: the images tiled
        once per class, class-major, through the CVAE's bound."""
        k, n = self.num_classes, tf.shape(images)[0]
        tiled = tf.tile(images, tf.concat([[k], tf.ones([tf.rank(images) - 1], tf.int32)], 0))
        classes = tf.repeat(tf.range(k, dtype=tf.int32), n)
        nll, kl = self.bound_terms(tiled, classes, self._normal(k * n), training)
        return tf.transpose(tf.reshape(nll + self.kl_weight() * kl, [k, n]))

    def objective_terms(self, batch, training=True):
        """The loss's three parts, each averaged over its minibatch: the
        unlabelled bound U, the labelled bound L, and -log q(y|x) of the labels."""
        unlabelled, labelled = batch["image"], batch["labelled_image"]
        if self.binarize and training:
            unlabelled, labelled = self.binary(unlabelled), self.binary(labelled)
        labels = batch["labelled_label"]
        nll, kl = self.bound_terms(labelled, labels, self._normal(tf.shape(labels)[0]), training)
        bound = losses.marginal_bound(
            self.class_bounds(unlabelled, training), self.class_logits(unlabelled, training)
        )
        return {
            "unlabelled": losses.average(bound),
            "labelled": losses.average(nll + self.kl_weight() * kl),
            "classification": self.class_loss(labelled, labels, training),
        }

    def class_loss(self, images, labels, training=False):
        """-log q(y|x) of the labels, averaged over the minibatch."""
        return losses.average(losses.label_nll(labels, self.class_logits(images, training)))

    def objective(self, terms):
        """The weighted sum of :meth:`objective_terms`."""
        return (
            terms["unlabelled"]
            + self.labelled_share * terms["labelled"]
            + self.classification_weight * terms["classification"]
        )

    def reconstruction_phase(self, batch):
        """One step of every network on the paper's objective; with
        ``classification_only``, of q(y|x) on the labels alone."""
        if self.classification_only:
            with tf.GradientTape() as tape:
                loss = self.class_loss(batch["labelled_image"], batch["labelled_label"], True)
            optimizers.descend(self.ae_optimizer, tape, loss, self.classifier.trainable_variables)
            self._track("class_loss", loss)
            return
        with tf.GradientTape() as tape:
            terms = self.objective_terms(batch)
            loss = self.objective(terms)
        variables = self.autoencoder_variables
        optimizers.descend(self.ae_optimizer, tape, loss, variables)
        self._track("loss", loss)
        self._track("unlabelled_bound", terms["unlabelled"])
        self._track("labelled_bound", terms["labelled"])
        self._track("class_loss", terms["classification"])

    # ----- what the driver, callbacks and export use -----------------------
    def held_out_metrics(self, images, labels, batch_size=1000):
        """The error of q(y|x)'s most probable class."""
        predicted = np.concatenate(
            [
                tf.argmax(self.class_logits(images[i : i + batch_size]), axis=1).numpy()
                for i in range(0, len(images), batch_size)
            ]
        )
        return {"error": label_errors.classification_error(predicted, np.asarray(labels))}

    def get_config(self):
        return {
            **super().get_config(),
            "labelled_share": self.labelled_share,
            "classification_weight": self.classification_weight,
            "classification_only": self.classification_only,
            "binarize": self.binarize,
        }

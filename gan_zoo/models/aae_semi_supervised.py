"""Semi-supervised adversarial autoencoder (Makhzani et al. 2015, Sec. 5).

The clustering AAE's kind of code (gan_zoo/models/categorical_code.py: a
softmax y, here over the dataset's classes, and a Gaussian style z, one
discriminator each) plus the paper's third phase:
after reconstruction and regularization on an unlabelled minibatch, the
encoder's q(y|x) is updated to minimise the cross-entropy of a labelled
minibatch. Labelled minibatches come from ``--num_labels`` training
examples, class-balanced and picked with ``--seed`` (0 = every label).

Readings: the unlabelled minibatches are drawn from the whole training set,
the labelled examples included, as in the paper's MNIST-100 protocol; the
pipeline strips their labels (-1), so only the classification phase ever
sees one. The classification phase runs every step, pre-training included,
with its own optimizer (``--c_learning_rate``).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from gan_zoo import label_errors, losses, optimizers
from gan_zoo.models import categorical_code
from gan_zoo.models.aae import AAE, AAEHparams
from gan_zoo.models.base import classification_only_setting, num_labels_setting, require_labels
from gan_zoo.settings import check_non_negative, setting


@dataclasses.dataclass(frozen=True)
class SemiSupervisedHparams(AAEHparams):
    c_learning_rate: float = setting(
        0.0, "aae_semi_supervised: learning rate of the classification phase; 0 = --learning_rate."
    )
    num_labels: int = num_labels_setting()
    classification_only: bool = classification_only_setting()

    def validate(self, run) -> None:
        super().validate(run)
        categorical_code.check_hparams(self, run)
        check_non_negative("c_learning_rate", self.c_learning_rate)
        check_non_negative("num_labels", self.num_labels, " (0 = all labels)")


@keras.saving.register_keras_serializable("gan_zoo")
class SemiSupervisedAAE(AAE):
    """q(y, z|x) with a classification phase on labelled minibatches."""

    Hparams = SemiSupervisedHparams
    capabilities = AAE.capabilities | {"held_out_metrics", "labelled_subset"}
    held_out_names = ("error",)

    paper_defaults = dict(AAE.paper_defaults, latent_dim=10, hidden_layers=2, num_labels=100)
    code_names = categorical_code.NAMES
    network_names = AAE.network_names + (categorical_code.NETWORK,)
    categories_signature = "classify"

    def __init__(self, *args, classification_only=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.classification_only = bool(classification_only)

    def metric_names(self):
        return super().metric_names() + ["class_loss"]

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            classification_only=config.classification_only,
        )

    @classmethod
    def num_categories_for(cls, config, source) -> int:
        require_labels(source, f"--model={config.model}")
        return source.num_classes

    @classmethod
    def labelled_subset(cls, config) -> int:
        """How many labelled training examples feed the classification phase (0 = all)."""
        return config.num_labels

    @staticmethod
    def optimizers_from_flags(config, steps_per_epoch):
        return dict(
            AAE.optimizers_from_flags(config, steps_per_epoch),
            c_optimizer=optimizers.build(config, steps_per_epoch, config.c_learning_rate),
        )

    def compile(self, c_optimizer, **kwargs):
        super().compile(**kwargs)
        self.c_optimizer = c_optimizer
        self.c_optimizer.build(self.encoder.trainable_variables)

    def classification_phase(self, batch):
        """The encoder's q(y|x) learns the labels of a labelled minibatch."""
        with tf.GradientTape() as tape:
            logits, _ = self.categorical.logits_and_z(batch["labelled_image"], training=True)
            loss = losses.average(losses.label_nll(batch["labelled_label"], logits))
        variables = self.encoder.trainable_variables
        optimizers.descend(self.c_optimizer, tape, loss, variables)
        self._track("class_loss", loss)

    def run_phases(self, batch):
        if not self.classification_only:
            super().run_phases(batch)
        self.classification_phase(batch)

    def held_out_metrics(self, images, labels):
        return {
            "error": label_errors.classification_error(
                self.categorical.categories(images).numpy(), labels.numpy()
            )
        }

    def get_config(self):
        return {**super().get_config(), "classification_only": self.classification_only}

    def checkpoint_items(self):
        return {**super().checkpoint_items(), "c_optimizer": self.c_optimizer}

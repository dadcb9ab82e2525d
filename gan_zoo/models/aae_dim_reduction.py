"""Dimensionality reduction with an adversarial autoencoder (Makhzani et al.
2015, Sec. 7; the architecture is its Fig. 10, the MNIST maps its Fig. 11).

The code of the clustering and semi-supervised AAEs
(gan_zoo/models/categorical_code.py: a softmax y over m categories and a
style z in n = ``--latent_dim`` dimensions, each matched to its prior by its
own discriminator, Cat(m) for y and ``--prior`` for z) becomes one
n-dimensional representation

    r = W_c y + z,

where the m rows of the learned m x n matrix W_c are the clusters' "heads".
The decoder reads r alone, so the map is what the autoencoder lives on: each
cluster a Gaussian blob of style around its head. An extra cost keeps every
two heads at least eta = ``--cluster_head_distance`` apart
(:func:`gan_zoo.losses.cluster_head_cost`). Every step runs the phases of
:class:`gan_zoo.models.aae.AAE` (reconstruction, which also moves W_c
through the decoder's input; regularization of y and z), the semi-supervised
model's classification phase, and last the cluster-head phase: W_c alone
descends the cost, with its own optimizer.

Two models share this file, as the paper's two settings:

- ``aae_dim_reduction`` (Fig. 11a, b): semi-supervised, m = the dataset's
  classes, with :class:`~gan_zoo.models.aae_semi_supervised.SemiSupervisedAAE`'s
  classification phase on ``--num_labels`` labelled examples; q(y|x) is a
  classifier (``classify``, ``val_error``).
- ``aae_dim_reduction_unsupervised`` (Fig. 11c): m = ``--num_clusters``, no
  labels, as :class:`~gan_zoo.models.aae_clustering.ClusteringAAE`
  (``cluster``, ``val_cluster_error``).

The paper's settings: MNIST, n = 2; 1000 or 100 labels with m = 10, or
m = 20 clusters without labels (and n = 10 with W_c fixed to 10 I, which
these models do not offer). Readings where it is silent or ambiguous:

- The cost "penalizes the Euclidean distance between every two cluster
  heads": zero above eta, "linearly" below it. We read it as the sum over
  pairs of max(0, eta - distance), which pushes close heads apart (a cost
  rising with the distance would pull them together, and its threshold
  would then mean nothing).
- eta: we found no value in the paper. The default, 6, is six standard
  deviations of the style prior N(0, I): blobs whose heads are eta apart
  overlap only in their tails.
- W_c starts from N(0, eta^2) entries (the paper does not say), so the
  heads start at the cost's scale rather than having to travel to it at
  Adam's rate of about one learning rate a step.
- As in the other categorical models the decoder reads the softmax q(y|x),
  so r = W_c q(y|x) + z in training and for use alike; for a confident
  encoder that is the head of its cluster plus z.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from gan_zoo import losses, optimizers
from gan_zoo.models import categorical_code
from gan_zoo.models.aae import AAE
from gan_zoo.models.aae_clustering import ClusteringAAE, ClusteringHparams
from gan_zoo.models.aae_semi_supervised import SemiSupervisedAAE, SemiSupervisedHparams
from gan_zoo.settings import check_positive, setting


@dataclasses.dataclass(frozen=True)
class ClusterHeadHparams:
    """The setting both dimensionality-reduction models add to their base's."""

    cluster_head_distance: float = setting(
        6.0,
        "aae_dim_reduction*: eta, the distance below which two cluster heads (rows of "
        "W_c) are pushed apart, linearly in their distance (the paper's Sec. 7).",
    )

    def validate(self, run) -> None:
        super().validate(run)
        check_positive("cluster_head_distance", self.cluster_head_distance)


@dataclasses.dataclass(frozen=True)
class DimReductionHparams(ClusterHeadHparams, SemiSupervisedHparams):
    pass


@dataclasses.dataclass(frozen=True)
class UnsupervisedDimReductionHparams(ClusterHeadHparams, ClusteringHparams):
    pass


class ClusterHeads(AAE):
    """What a categorical-code AAE (mixed in before it) gains here: W_c, the
    representation W_c y + z that the decoder reads, and the heads' cost.

    Args (besides the AAE's): cluster_head_distance: eta.
    """

    def __init__(self, *args, cluster_head_distance=6.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster_head_distance = float(cluster_head_distance)
        self.cluster_heads = self.add_weight(
            shape=(self.num_categories, self.latent_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.cluster_head_distance),
            name="cluster_heads",
        )

    def metric_names(self):
        return super().metric_names() + ["head_cost"]

    @classmethod
    def build_networks(cls, config, source):
        k = cls.num_categories_for(config, source)
        return categorical_code.build_networks(
            cls, config, source, k, decoder_inputs=config.latent_dim
        )

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            cluster_head_distance=config.cluster_head_distance,
        )

    @classmethod
    def optimizers_from_flags(cls, config, steps_per_epoch):
        return dict(
            super().optimizers_from_flags(config, steps_per_epoch),
            h_optimizer=optimizers.build(config, steps_per_epoch),
        )

    def compile(self, h_optimizer, **kwargs):
        super().compile(**kwargs)
        self.h_optimizer = h_optimizer
        self.h_optimizer.build([self.cluster_heads])

    @property
    def autoencoder_variables(self):
        # The reconstruction reaches W_c through the decoder's input.
        return super().autoencoder_variables + [self.cluster_heads]

    # ----- the representation ------------------------------------------------
    def represent(self, code):
        """W_c y + z, [N, latent_dim], of a code {"y": [N, m], "z": [N, latent_dim]}."""
        y, z = code["y"], code["z"]
        return tf.matmul(y, tf.cast(self.cluster_heads, y.dtype)) + tf.cast(z, y.dtype)

    def encode(self, images, labels=None, training=False):
        code = super().encode(images, labels, training)
        return {**code, "representation": self.represent(code)}

    def decoder_input(self, code, labels):
        return self.represent(code)

    @property
    def serves(self):
        return super().serves + ("representation",)

    @property
    def draws(self):
        return super().draws + ("representation",)

    # ----- the heads' phase ----------------------------------------------------
    def cluster_head_phase(self):
        """W_c alone descends the cluster heads' cost."""
        with tf.GradientTape() as tape:
            # One cost per replica: averaged as a batch of one, so that the
            # replicas' summed gradients make the single-device step.
            cost = losses.average(
                losses.cluster_head_cost(self.cluster_heads, self.cluster_head_distance)
            )
        optimizers.descend(self.h_optimizer, tape, cost, [self.cluster_heads])
        self._track("head_cost", cost)

    def run_phases(self, batch):
        super().run_phases(batch)
        self.cluster_head_phase()

    def get_config(self):
        return {**super().get_config(), "cluster_head_distance": self.cluster_head_distance}

    def checkpoint_items(self):
        return {**super().checkpoint_items(), "h_optimizer": self.h_optimizer}


@keras.saving.register_keras_serializable("gan_zoo")
class DimReductionAAE(ClusterHeads, SemiSupervisedAAE):
    """Semi-supervised dimensionality reduction: m = the classes, some labelled."""

    Hparams = DimReductionHparams
    # The paper's Fig. 11a: a 2-D map of MNIST with 1000 labels.
    paper_defaults = dict(SemiSupervisedAAE.paper_defaults, latent_dim=2, num_labels=1000)


@keras.saving.register_keras_serializable("gan_zoo")
class UnsupervisedDimReductionAAE(ClusterHeads, ClusteringAAE):
    """Unsupervised dimensionality reduction: m = --num_clusters, no labels."""

    Hparams = UnsupervisedDimReductionHparams
    # The paper's Fig. 11c: 20 clusters on a 2-D map; the rest as the
    # clustering AAE's, whose adversaries needed the same help here.
    paper_defaults = dict(ClusteringAAE.paper_defaults, num_clusters=20)

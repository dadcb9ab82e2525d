"""Unsupervised clustering with an adversarial autoencoder (Makhzani et al. 2015, Sec. 6).

The AAE's code holds a softmax y over ``--num_clusters`` categories beside
a continuous style z (gan_zoo/models/categorical_code.py), each matched to
its prior by its own discriminator: Cat(K) for y, ``--prior`` (Gaussian in
the paper) for z. Without labels, the categories become clusters of the
data: the style that z cannot hold, the digit's identity mostly, goes to y.

Both phases are :class:`gan_zoo.models.aae.AAE`'s: the regularization phase
updates both discriminators, then the encoder against both (the sum of the
two non-saturating losses, our reading of "the generator is updated to
confuse both").

The cluster error (``val_cluster_error``, or ``test_`` without a validation
split) labels each cluster with the majority label of its held-out members;
see gan_zoo/label_errors.py.
"""

from __future__ import annotations

import dataclasses

import keras

from gan_zoo import label_errors
from gan_zoo.errors import UserError
from gan_zoo.models import categorical_code
from gan_zoo.models.aae import AAE, AAEHparams
from gan_zoo.settings import setting


@dataclasses.dataclass(frozen=True)
class ClusteringHparams(AAEHparams):
    num_clusters: int = setting(16, "aae_clustering: categories of the code y (clusters).")

    def validate(self, run) -> None:
        super().validate(run)
        categorical_code.check_hparams(self, run)
        if self.num_clusters < 2:
            raise UserError(f"--num_clusters={self.num_clusters} must be >= 2.")


@keras.saving.register_keras_serializable("gan_zoo")
class ClusteringAAE(AAE):
    """An AAE with a categorical code y over ``--num_clusters`` categories and a style z."""

    Hparams = ClusteringHparams
    capabilities = AAE.capabilities | {"held_out_metrics"}
    held_out_names = ("cluster_error",)
    # Beyond the paper's layers and K: a 2-D style z, Adam's beta_1 = 0.1 and
    # noise on the discriminators' inputs for the first 10 epochs
    # (flags/aae_mnist_clustering.flags says why). Without the noise the code
    # collapsed onto one category; kept on, it left y soft; with a 5-D z and
    # beta_1 = 0.9 the digit was split between y and z.
    paper_defaults = dict(
        AAE.paper_defaults,
        latent_dim=2,
        beta_1=0.1,
        d_input_noise=0.3,
        d_input_noise_epochs=10,
        hidden_layers=2,
        num_clusters=16,
    )
    code_names = categorical_code.NAMES
    network_names = AAE.network_names + (categorical_code.NETWORK,)
    categories_signature = "cluster"

    @classmethod
    def num_categories_for(cls, config, source) -> int:
        return config.num_clusters

    def held_out_metrics(self, images, labels):
        clusters = self.categorical.categories(images).numpy()
        return {
            "cluster_error": label_errors.cluster_error(
                clusters, labels.numpy(), self.num_categories
            )
        }

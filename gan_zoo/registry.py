"""Name -> builder maps for ``--model`` and ``--dataset``.

Adding a model is one file under gan_zoo/models plus one line here; a preset
(a registered model trained with other defaults) is one entry of PRESETS.
"""

from __future__ import annotations

from gan_zoo.datasets import digits, image_folder, lsun, mnist, tfds_images
from gan_zoo.errors import UserError
from gan_zoo.models import (
    aae,
    aae_clustering,
    aae_dim_reduction,
    aae_semi_supervised,
    aae_supervised,
    ae,
    cae,
    cgan,
    cvae,
    dae,
    dcgan,
    gan,
    gan_cifar,
    vae,
    vae_semi_supervised,
)

MODELS = {
    "gan": gan.GAN,
    "gan_cifar10_fc": gan_cifar.CifarGAN,
    "gan_cifar10_conv": gan_cifar.ConvCifarGAN,
    "dcgan": dcgan.DCGAN,
    "cgan": cgan.CGAN,
    "ae": ae.AE,
    "dae": dae.DAE,
    "cae": cae.CAE,
    "vae": vae.VAE,
    "cvae": cvae.CVAE,
    "vae_semi_supervised": vae_semi_supervised.SemiSupervisedVAE,
    "aae": aae.AAE,
    "aae_supervised": aae_supervised.SupervisedAAE,
    "aae_semi_supervised": aae_semi_supervised.SemiSupervisedAAE,
    "aae_clustering": aae_clustering.ClusteringAAE,
    "aae_dim_reduction": aae_dim_reduction.DimReductionAAE,
    "aae_dim_reduction_unsupervised": aae_dim_reduction.UnsupervisedDimReductionAAE,
}

# Name -> (the registered model, the defaults its paper sets over that
# model's own; flags still override them).
PRESETS = {
    # WGAN-GP (Gulrajani et al. 2017, Algorithm 1): a critic trained by the
    # Wasserstein loss with a gradient penalty of weight 10 on interpolates,
    # n_critic = 5 critic steps (each on a fresh minibatch) per generator
    # step, Adam 1e-4 with betas (0, 0.9); the DCGAN networks with a critic
    # without BatchNorm, which would couple the per-example penalty across
    # the batch (their Sec. 4).
    "wgan_gp": (
        "dcgan",
        dict(
            adversarial_loss="wasserstein",
            penalty="gradient",
            penalty_weight=10.0,
            d_steps=5,
            optimizer="adam",
            learning_rate=1e-4,
            beta_1=0.0,
            beta_2=0.9,
            d_norm="none",
            batch_size=64,
        ),
    ),
}

DATASETS = {
    "digits": digits.load,
    "mnist": mnist.load,
    "lsun": lsun.load,
    "celeb_a": tfds_images.load_celeb_a,
    "cifar10": tfds_images.load_cifar10,
    "image_folder": image_folder.load,
}


def _lookup(kind: str, table: dict, name: str):
    if name not in table:
        raise UserError(f"unknown --{kind}={name!r}; choose one of: {', '.join(sorted(table))}.")
    return table[name]


def model_names() -> list[str]:
    """Every --model: the models and the presets."""
    return sorted({**MODELS, **PRESETS})


def model_class(name: str):
    """The keras.Model subclass registered as ``name`` (a preset's model)."""
    _lookup("model", {**MODELS, **PRESETS}, name)  # one line for an unknown name
    return MODELS[PRESETS[name][0] if name in PRESETS else name]


def paper_defaults(name: str) -> dict:
    """The settings model ``name``'s paper fixes: its class's, and a preset's over them."""
    defaults = dict(model_class(name).paper_defaults)
    if name in PRESETS:
        defaults.update(PRESETS[name][1])
    return defaults


def dataset_loader(name: str):
    """The function ``load(config) -> Source`` registered as ``name``."""
    return _lookup("dataset", DATASETS, name)

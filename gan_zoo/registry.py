"""Name -> builder maps for ``--model`` and ``--dataset``.

Adding a model is one file under gan_zoo/models plus one line here.
"""

from __future__ import annotations

from gan_zoo.datasets import digits, image_folder, lsun, mnist, tfds_images
from gan_zoo.errors import UserError
from gan_zoo.models import (
    aae,
    aae_clustering,
    aae_semi_supervised,
    aae_supervised,
    ae,
    cgan,
    cvae,
    dae,
    dcgan,
    gan,
    vae,
)

MODELS = {
    "gan": gan.GAN,
    "dcgan": dcgan.DCGAN,
    "cgan": cgan.CGAN,
    "ae": ae.AE,
    "dae": dae.DAE,
    "vae": vae.VAE,
    "cvae": cvae.CVAE,
    "aae": aae.AAE,
    "aae_supervised": aae_supervised.SupervisedAAE,
    "aae_semi_supervised": aae_semi_supervised.SemiSupervisedAAE,
    "aae_clustering": aae_clustering.ClusteringAAE,
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


def model_class(name: str):
    """The keras.Model subclass registered as ``name``."""
    return _lookup("model", MODELS, name)


def dataset_loader(name: str):
    """The function ``load(config) -> Source`` registered as ``name``."""
    return _lookup("dataset", DATASETS, name)

"""Name -> builder maps for ``--model`` and ``--dataset``, and what is read
through them: the settings every model declares, a flagfile's text read
against those, and a run's :class:`~gan_zoo.config.Config` resolved from the
flags a user gave (``gan_zoo.config`` holds the settings' shape and rules,
and knows no model by name).

Adding a model is one file under gan_zoo/models plus one line here; a preset
(a registered model trained with other defaults) is one entry of PRESETS.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from gan_zoo import metric_names
from gan_zoo.config import Config, RunConfig
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
from gan_zoo.models.base import Hparams

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


def declarations() -> dict[str, tuple[dataclasses.Field, type]]:
    """Every setting of every model: name -> (its field, the dataclass that
    declares it), the run's first, then each model family's hyperparameters
    (a name shared by families is declared once, by the first)."""
    classes = [RunConfig, Hparams]
    for name in model_names():
        cls = model_class(name).Hparams
        if cls not in classes:
            classes.append(cls)
    found: dict[str, tuple[dataclasses.Field, type]] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            owner = next(
                c for c in reversed(cls.__mro__) if f.name in getattr(c, "__dataclass_fields__", {})
            )
            found.setdefault(f.name, (f, owner))
    return found


def field_names() -> list[str]:
    """The name of every setting of every model."""
    return list(declarations())


def models_with(name: str) -> list[str]:
    """The --model values that have setting ``name``."""
    return [m for m in model_names() if name in model_class(m).Hparams.__dataclass_fields__]


def resolve(overrides: Mapping[str, Any]) -> Config:
    """Builds the Config for a run from the flags the user actually gave.

    Args:
      overrides: flag name -> value, only for flags given on the command line
        or in a flagfile. Everything else comes from the model's paper
        defaults, then from the dataclass defaults.

    Returns:
      A validated Config with ``workdir`` filled in.

    Raises:
      UserError: for an unknown setting, one the model does not have, or a
        bad value.
    """
    unknown = set(overrides) - set(field_names())
    if unknown:
        raise UserError(f"unknown setting(s): {', '.join(sorted(unknown))}.")
    model = overrides.get("model", RunConfig.model)
    cls = model_class(model)
    hparams_cls = cls.Hparams
    run_names, model_fields = (
        set(RunConfig.__dataclass_fields__),
        set(hparams_cls.__dataclass_fields__),
    )
    foreign = sorted(set(overrides) - run_names - model_fields)
    if foreign:
        owners = sorted({m for name in foreign for m in models_with(name)})
        raise UserError(
            f"--model={model} has no setting {', '.join('--' + n for n in foreign)} (a setting "
            f"of {', '.join(owners)}); drop it, or choose one of those models."
        )
    values = {**paper_defaults(model), **overrides}
    run = RunConfig(**{k: v for k, v in values.items() if k in run_names})
    if not run.workdir:
        run = dataclasses.replace(run, workdir=os.path.join("runs", f"{run.model}_{run.dataset}"))
    dataset_loader(run.dataset)
    hparams = hparams_cls(**{k: v for k, v in values.items() if k in model_fields})
    cfg = Config(run, hparams).validate()
    measured = cls.held_out_names
    if cfg.keep_best in metric_names.HELD_OUT_BEST and cfg.keep_best not in measured:
        chooses = ", ".join(n for n in measured if n in metric_names.HELD_OUT_BEST)
        raise UserError(
            f"--model={model} does not measure {cfg.keep_best}; "
            + (f"it measures {chooses}." if chooses else "use --keep_best=parzen or fid.")
        )
    if cfg.eval_batch_stats and not cls.can("preview_with_batch_stats"):
        raise UserError(
            f"--eval_batch_stats needs a generator with BatchNorm (dcgan); "
            f"--model={model} has none."
        )
    return cfg


def parse_flagfile(text: str, source: str = "the flagfile") -> dict[str, Any]:
    """The settings of flagfile text as written by :meth:`Config.to_flagfile`
    (``--name=value``, ``--flag`` / ``--noflag`` for booleans; lines that do
    not start with ``--``, such as comments, are ignored).

    Raises:
      UserError: naming ``source``, for lines that are no Config setting or
        whose value does not fit the setting's type.
    """
    types = {name: f.type for name, (f, _) in declarations().items()}
    settings: dict[str, Any] = {}
    unknown, bad = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, has_value, value = line[2:].partition("=")
        if not has_value and name.startswith("no") and types.get(name[2:]) == "bool":
            settings[name[2:]] = False
        elif name not in types:
            unknown.append(line)
        elif types[name] == "bool":
            if not has_value or value.lower() in ("true", "t", "1"):
                settings[name] = True
            elif value.lower() in ("false", "f", "0"):
                settings[name] = False
            else:
                bad.append(line)
        elif not has_value:
            bad.append(line)
        else:
            try:
                settings[name] = {"int": int, "float": float, "str": str}[types[name]](value)
            except ValueError:
                bad.append(line)
    if unknown:
        raise UserError(
            f"{source} has unknown setting(s) {', '.join(unknown)}; fix their names "
            "or delete those lines (python train.py --helpfull lists the settings)."
        )
    if bad:
        raise UserError(
            f"{source} has setting(s) without a valid value: {', '.join(bad)}; "
            "write them as --name=value of the setting's type."
        )
    return settings

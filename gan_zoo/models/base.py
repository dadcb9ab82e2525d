"""The defaults of the hooks every model offers the driver (see gan_zoo/models/__init__.py)."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from gan_zoo import optimizers
from gan_zoo.errors import UserError
from gan_zoo.settings import check_choice, check_non_negative, check_positive, setting


@dataclasses.dataclass(frozen=True)
class Hparams:
    """What every model has: the size of its code and its optimizer's settings."""

    latent_dim: int = setting(100, "Dimension of the noise / code z.")
    optimizer: str = setting("sgd", "Optimizer for every network: sgd | adam.")
    learning_rate: float = setting(0.1, "Initial learning rate.")
    lr_decay: float = setting(
        1.0, "Learning rate is divided by this factor after every update (1 = constant)."
    )
    min_learning_rate: float = setting(0.0, "Floor of the decayed learning rate.")
    lr_drop_epochs: str = setting(
        "",
        "Comma-separated epochs after which every learning rate is multiplied by "
        "--lr_drop_factor (e.g. '100,150'; empty = never).",
    )
    lr_drop_factor: float = setting(0.1, "What each of --lr_drop_epochs multiplies the rates by.")
    momentum: float = setting(0.0, "SGD momentum at the start of training.")
    final_momentum: float = setting(0.0, "SGD momentum reached after --momentum_epochs epochs.")
    momentum_epochs: int = setting(0, "Epochs over which momentum rises linearly (0 = constant).")
    beta_1: float = setting(0.9, "Adam beta_1.")
    beta_2: float = setting(0.999, "Adam beta_2.")

    def validate(self, run) -> None:
        """Raises UserError with one actionable line for a bad value; ``run``
        is the RunConfig, for rules that involve it."""
        del run
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        check_positive("latent_dim", self.latent_dim)
        check_positive("learning_rate", self.learning_rate)
        check_non_negative("momentum_epochs", self.momentum_epochs)
        if self.lr_decay < 1.0:
            raise UserError(f"--lr_decay={self.lr_decay} must be >= 1 (the rate is divided by it).")
        optimizers.drop_epochs(self.lr_drop_epochs)
        if not 0.0 < self.lr_drop_factor <= 1.0:
            raise UserError(f"--lr_drop_factor={self.lr_drop_factor} must be in (0, 1].")
        for name in ("momentum", "final_momentum", "beta_1", "beta_2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise UserError(f"--{name}={value} must be in [0, 1).")


def d_learning_rate_setting():
    """--d_learning_rate, which the GANs and the AAEs both have."""
    return setting(0.0, "Learning rate of the (code) discriminator; 0 = --learning_rate.")


def prior_setting():
    """--prior, which the AAEs (the target of their adversaries) and the VAEs
    (the p(z) of their bound) both have."""
    return setting(
        "gaussian",
        "AAE, VAE: the prior p(z) of the code: gaussian | mixture_gaussian (10 2-D "
        "Gaussians on a circle) | swiss_roll | uniform (AAE only). The VAE's KL term is "
        "analytic for gaussian, a one-sample Monte Carlo estimate otherwise.",
    )


def num_labels_setting():
    """--num_labels, which the semi-supervised AAEs and M2 all have."""
    return setting(
        100,
        "aae_semi_supervised, aae_dim_reduction, vae_semi_supervised: labelled training "
        "examples, class-balanced (0 = all labels).",
    )


def classification_only_setting():
    """--classification_only: the baseline a semi-supervised error is read against."""
    return setting(
        False,
        "aae_semi_supervised, vae_semi_supervised: train q(y|x) on the labelled examples "
        "alone, without the other networks and phases: the plain classifier of the same "
        "network, the baseline the semi-supervised error is read against.",
    )


def require_labels(source, what: str) -> None:
    """Raises UserError unless ``source`` is labelled; ``what`` names the flag
    that needs the labels (``--model=cvae``, ``--conditional_prior``)."""
    if not source.num_classes:
        raise UserError(
            f"{what} needs labels, and {source.name!r} has none; use a labelled "
            "dataset (mnist, digits, cifar10)."
        )


# The optional hooks (see gan_zoo/models/__init__.py). A model declares the
# ones it has in ``capabilities``, and the driver asks the declaration, never
# the class, so that a misspelt hook fails when its class is defined instead
# of silently switching a feature off.
OPTIONAL_HOOKS = (
    "held_out_metrics",
    "training_callbacks",
    "labelled_subset",
    "preview_with_batch_stats",
)


class ZooModel(keras.Model):
    """A keras.Model with the training driver's hooks at their usual values."""

    # The dataclass of the model family's hyperparameters.
    Hparams = Hparams

    capabilities: frozenset[str] = frozenset()
    # The names held_out_metrics returns (what --keep_best may choose by).
    held_out_names: tuple[str, ...] = ()
    # Kinds of gan_zoo/pictures.py drawn every epoch from held-out data.
    draws: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = set(cls.capabilities)
        unknown = sorted(declared - set(OPTIONAL_HOOKS))
        missing = sorted(h for h in declared - set(unknown) if not callable(getattr(cls, h, None)))
        undeclared = sorted(h for h in set(OPTIONAL_HOOKS) - declared if hasattr(cls, h))
        if unknown or missing or undeclared:
            raise TypeError(
                f"{cls.__name__}.capabilities: unknown {unknown}, declared without a method "
                f"{missing}, methods not declared {undeclared}; the hooks are {OPTIONAL_HOOKS}."
            )

    @classmethod
    def can(cls, hook: str) -> bool:
        """Whether this model has the optional hook ``hook``."""
        if hook not in OPTIONAL_HOOKS:
            raise ValueError(f"{hook!r} is no optional hook; they are {OPTIONAL_HOOKS}.")
        return hook in cls.capabilities

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15's fit, under any tf.distribute strategy, "builds" the
        # model on a batch pulled from a throw-away iterator over the
        # training data and averaged over the replicas; with
        # MultiWorkerMirroredStrategy that average of a dict of tensors
        # raises ValueError. Our models are fully built when compiled, so
        # there is nothing to build (and no batch to decode for nothing).
        del iterator, data_batch

    def step_logs(self) -> dict:
        """What ``train_step`` returns: every tracker's current value.

        Under MultiWorkerMirroredStrategy each comes as a one-element vector:
        Keras 3.15 averages a step's outputs over the workers with
        ``reduce("MEAN", axis=0)``, which fails on scalars ("Invalid reduction
        dimension 0"); over one-element vectors it is the mean over all
        replicas, returned as a scalar.
        """
        logs = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    @classmethod
    def examples_per_step(cls, config) -> int:
        """Data examples one ``train_step`` consumes."""
        return config.batch_size

    @classmethod
    def image_shape(cls, config, source):
        """The (H, W, C) the model works at; the pipeline resizes data to it."""
        return source.image_shape

    def checkpoint_items(self) -> dict:
        """Name -> optimizer (or other trackable) the checkpoint must hold."""
        raise NotImplementedError

    def schedule_values(self) -> dict:
        """Every optimizer's current learning rate (and scheduled momentum), for TensorBoard."""
        values = {}
        for name, opt in self.checkpoint_items().items():
            if not isinstance(opt, keras.optimizers.Optimizer):
                continue
            prefix = name.removesuffix("_optimizer")
            values[f"{prefix}_learning_rate"] = float(keras.ops.convert_to_numpy(opt.learning_rate))
            inner = getattr(opt, "inner_optimizer", opt)  # under loss scaling
            if isinstance(inner, optimizers.ScheduledMomentumSGD):
                values[f"{prefix}_momentum"] = inner.current_momentum()
        return values

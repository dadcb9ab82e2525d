"""The defaults of the hooks every model offers the driver (see gan_zoo/models/__init__.py)."""

from __future__ import annotations

import keras
import tensorflow as tf

from gan_zoo import optimizers
from gan_zoo.errors import UserError


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

    capabilities: frozenset[str] = frozenset()
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
    def check_config(cls, config) -> None:
        """Raises UserError for settings this model cannot use (none by default)."""

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

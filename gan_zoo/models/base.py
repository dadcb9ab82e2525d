"""The defaults of the hooks every model offers the driver (see gan_zoo/models/__init__.py)."""

from __future__ import annotations

import keras

from gan_zoo import optimizers
from gan_zoo.errors import UserError


def require_labels(source, what: str) -> None:
    """Raises UserError unless ``source`` is labelled; ``what`` names the flag
    that needs the labels (``--model=cvae``, ``--conditional_prior``)."""
    if not source.num_classes:
        raise UserError(f"{what} needs labels, and {source.name!r} has none; use a labelled "
                        "dataset (mnist, digits, cifar10).")


class ZooModel(keras.Model):
    """A keras.Model with the training driver's hooks at their usual values."""

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
            values[f"{prefix}_learning_rate"] = float(
                keras.ops.convert_to_numpy(opt.learning_rate))
            if isinstance(opt, optimizers.ScheduledMomentumSGD):
                values[f"{prefix}_momentum"] = opt.current_momentum()
        return values

"""Noise priors p(z): sampling from a Keras SeedGenerator and from a plain seed.

Training draws through a ``keras.random.SeedGenerator`` owned by the model,
so the noise stream is part of the checkpoint. Exports draw with stateless
ops from a caller-given seed, so the same seed gives the same images anywhere.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from gan_zoo.errors import UserError


class Prior:
    """A fixed distribution over R^d."""

    name: str

    def sample(self, shape, seed) -> tf.Tensor:
        """Draws ``shape`` samples using a keras SeedGenerator (training)."""
        raise NotImplementedError

    def stateless_sample(self, shape, seed) -> tf.Tensor:
        """Draws ``shape`` samples from an int32[2] seed (export, evaluation)."""
        raise NotImplementedError


class Uniform(Prior):
    """U(-a, a)^d. Goodfellow's code used a = sqrt(3): zero mean, unit variance."""

    name = "uniform"

    def __init__(self, limit: float = math.sqrt(3.0)):
        self.limit = limit

    def sample(self, shape, seed):
        return keras.random.uniform(shape, -self.limit, self.limit, seed=seed)

    def stateless_sample(self, shape, seed):
        return tf.random.stateless_uniform(shape, seed, -self.limit, self.limit)


class Gaussian(Prior):
    """N(0, I)."""

    name = "gaussian"

    def sample(self, shape, seed):
        return keras.random.normal(shape, seed=seed)

    def stateless_sample(self, shape, seed):
        return tf.random.stateless_normal(shape, seed)


NOISE = {"uniform": Uniform, "gaussian": Gaussian}


def noise(name: str, **kwargs) -> Prior:
    """The noise prior called ``name``."""
    if name not in NOISE:
        raise UserError(f"unknown noise prior {name!r}; choose one of: {', '.join(NOISE)}.")
    return NOISE[name](**kwargs)

"""Building blocks shared by models: maxout, and the MLP stacks of the papers."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable("gan_zoo")
class Maxout(layers.Layer):
    """Maxout units (Goodfellow et al. 2013): max over ``pieces`` affine maps.

    One Dense of ``units * pieces`` outputs followed by a max over each
    group of ``pieces`` consecutive outputs.
    """

    def __init__(self, units: int, pieces: int, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units, self.pieces = units, pieces
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = layers.Dense(units * pieces, kernel_initializer=self.kernel_initializer,
                                  name="linear")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        z = self.dense(inputs)
        z = ops.reshape(z, (-1, self.units, self.pieces))
        return ops.max(z, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, pieces=self.pieces,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


def uniform_init(limit: float, seed: int | None):
    """pylearn2's ``irange``: weights ~ U(-limit, limit)."""
    return keras.initializers.RandomUniform(-limit, limit, seed=seed)


def mlp_generator(latent_dim: int, image_shape, hidden=(1200, 1200), init_limit=0.05,
                  output_bias=None, seed=None, name="generator") -> keras.Model:
    """ReLU MLP from z to sigmoid pixels, reshaped to ``image_shape``.

    Args:
      latent_dim: size of z.
      image_shape: (H, W, C) of the output.
      hidden: widths of the ReLU layers.
      init_limit: weights start ~ U(-init_limit, init_limit).
      output_bias: optional initial bias of the sigmoid layer (flattened image),
        e.g. logit of the data's mean image.
      seed: initializer seed.
      name: model name.
    """
    z = keras.Input((latent_dim,), name="z")
    h = z
    for i, width in enumerate(hidden):
        h = layers.Dense(width, activation="relu", name=f"h{i}",
                         kernel_initializer=uniform_init(init_limit, _offset(seed, i)))(h)
    size = int(image_shape[0] * image_shape[1] * image_shape[2])
    bias_init = ("zeros" if output_bias is None
                 else keras.initializers.Constant(output_bias.reshape(-1).tolist()))
    x = layers.Dense(size, activation="sigmoid", name="y", bias_initializer=bias_init,
                     kernel_initializer=uniform_init(init_limit, _offset(seed, len(hidden))))(h)
    x = layers.Reshape(tuple(image_shape), name="image")(x)
    return keras.Model(z, x, name=name)


def maxout_discriminator(image_shape, units=240, pieces=5, hidden_layers=2, init_limit=0.005,
                         input_dropout=0.2, hidden_dropout=0.5, seed=None,
                         name="discriminator") -> keras.Model:
    """Maxout MLP from images to one logit (shape [N, 1]), with dropout on the input and
    hidden layers."""
    x = keras.Input(tuple(image_shape), name="image")
    h = layers.Flatten()(x)
    h = layers.Dropout(input_dropout, seed=_offset(seed, 100), name="drop_input")(h)
    for i in range(hidden_layers):
        h = Maxout(units, pieces, kernel_initializer=uniform_init(init_limit, _offset(seed, i)),
                   name=f"h{i}")(h)
        h = layers.Dropout(hidden_dropout, seed=_offset(seed, 101 + i), name=f"drop_h{i}")(h)
    logit = layers.Dense(1, name="logit",
                         kernel_initializer=uniform_init(init_limit, _offset(seed, hidden_layers)))(h)
    return keras.Model(x, logit, name=name)


def _offset(seed, i):
    return None if seed is None else seed + i


def dense_stack(input_shape, hidden: int, layers_: int, output_units: int,
                output_activation=None, output_shape=None, name="mlp") -> keras.Model:
    """Flatten -> ``layers_`` ReLU layers of ``hidden`` units -> ``output_units``.

    The AAE paper's encoder, decoder and code discriminator are all this
    shape (three 1000-unit ReLU layers on MNIST).

    Args:
      input_shape: shape of one input, e.g. (28, 28, 1) or (2,).
      hidden: width of each hidden layer.
      layers_: number of hidden layers.
      output_units: size of the (linear or ``output_activation``) output.
      output_activation: e.g. "sigmoid" for pixels; None for codes and logits.
      output_shape: reshape the output to this per-example shape, if given.
      name: model name.
    """
    x = keras.Input(tuple(input_shape), name="input")
    h = layers.Flatten()(x) if len(input_shape) > 1 else x
    for i in range(layers_):
        h = layers.Dense(hidden, activation="relu", name=f"h{i}")(h)
    out = layers.Dense(output_units, activation=output_activation, name="output")(h)
    if output_shape is not None:
        out = layers.Reshape(tuple(output_shape), name="reshape")(out)
    return keras.Model(x, out, name=name)

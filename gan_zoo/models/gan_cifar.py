"""The GAN paper's CIFAR-10 networks (Goodfellow et al. 2014, Fig. 2 c-d), as
the authors' released configurations build them: ``cifar10_fully_connected.yaml``
(``--model=gan_cifar10_fc``) and ``cifar10_convolutional.yaml``
(``--model=gan_cifar10_conv``) in goodfeli/adversarial. Trained by the same
Algorithm 1 as :class:`gan_zoo.models.gan.GAN`; this file swaps the networks
and puts the data through global contrast normalisation.

Readings of the configurations, layer by layer:

- Data: pylearn2's ``CIFAR10(gcn=55., start=0, stop=40000)``: every image, its
  3,072 values as one vector, minus its mean and scaled to norm 55
  (:func:`gan_zoo.pixels.global_contrast_normalize`); training images
  0-40,000, validation 40,000-50,000 (``--dataset=cifar10 --paper_split``).
- Fully connected G: ReLU 8,000 (irange .05), *sigmoid* 8,000 (irange .05),
  then a *linear* layer of 3,072 (irange .5), no output nonlinearity: G draws
  in the normalised space, whose values are unbounded. No output bias from
  the data's marginals (that line is commented out in the yaml).
- Deconvolutional G: the same two layers, their 8,000 units reshaped to 10 x 10
  x 80 (pylearn2's c01b order there; the order is a fixed permutation of
  units drawn alike, so NHWC loses nothing), one 5 x 5 transposed convolution
  to 3 channels with stride 3 and no padding ((10 - 1) 3 + 5 = 32), irange
  .05, linear, with an untied bias (``tied_b: 0``: one per output value).
- Fully connected D: maxout 1,600 units x 5 pieces, twice, then one sigmoid
  unit (irange .005): the MNIST discriminator, wider.
- Convolutional D: three maxout convolutions (cuda-convnet's MaxoutConvC01B,
  tied biases, irange .005): 32 channels x 2 pieces, 8 x 8 kernels, zero
  padding 4, max pooling 4 x 4 stride 2; 32 x 2, 8 x 8, padding 3, pooling 4
  stride 2; 192 x 2, 5 x 5, padding 3, pooling 2 stride 2; then maxout 500 x 5
  and one sigmoid unit. cuda-convnet pools windows that run off the edge
  (ceil((n - k) / s) + 1 outputs), so the maps are 33 -> 16, 15 -> 7, 9 -> 5
  (the yaml's ``partial_sum`` 33 and 15 are those sizes).
- Dropout (AdversaryCost2's): D's input kept with probability .8, every other
  layer's input with .5, inverted scaling (1.25 and 2 in the yaml).
- Optimiser: SGD, momentum .5 rising to .7 over epochs 1-250, learning rate
  divided by 1.000004 per update, floor 1e-6; batch 100 and rate .025 (fully
  connected), batch 128 and rate .004 (convolutional).
- Update rule: the configurations' AdversaryCost2 is the simultaneous update;
  Algorithm 1 is the default here as for MNIST (``--gan_update=simultaneous``
  for theirs). Noise: uniform U(-sqrt3, sqrt3), as for our MNIST GAN.

The normalisation is applied to the real images where they enter D's loss;
G's samples reach D as G draws them, as in the authors' code. An export
serves images in [0, 1] like every other: its samples go through
:func:`gan_zoo.pixels.contrast_display` (each divided by its largest absolute
value, as pylearn2 showed GCN data), and its ``discriminate`` normalises the
[0, 1] images it is given. In Keras terms, ``training=False`` is the serving
path here: the training step always calls the networks with ``training=True``.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
from keras import layers, ops

from gan_zoo import networks, pixels
from gan_zoo.errors import UserError
from gan_zoo.models.gan import GAN, GANHparams
from gan_zoo.networks import OUTPUT_DTYPE, Maxout, uniform_init
from gan_zoo.settings import check_positive, setting

IMAGE_SIZE = 32


@keras.saving.register_keras_serializable("gan_zoo")
class MaxoutConv(layers.Layer):
    """cuda-convnet's maxout convolution as pylearn2's MaxoutConvC01B runs it:
    zero padding, a convolution to ``channels * pieces`` maps with one bias per
    map, the max over each group of ``pieces`` consecutive maps, then max
    pooling whose last window may run off the edge (ceil mode)."""

    def __init__(
        self, channels, pieces, kernel, pad, pool, stride, init_limit=0.005, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.channels, self.pieces, self.kernel = channels, pieces, kernel
        self.pad, self.pool, self.stride = pad, pool, stride
        self.init_limit, self.seed = init_limit, seed
        self.conv = layers.Conv2D(
            channels * pieces,
            kernel,
            kernel_initializer=uniform_init(init_limit, seed),
            name="conv",
        )

    def build(self, input_shape):
        h, w, c = input_shape[1:]
        self.conv.build((None, h + 2 * self.pad, w + 2 * self.pad, c))

    def call(self, inputs):
        p = self.pad
        x = self.conv(ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]]))
        shape = ops.shape(x)
        x = ops.max(ops.reshape(x, (-1, shape[1], shape[2], self.channels, self.pieces)), axis=-1)
        extra = self._overhang(x.shape[1])
        # Windows that run off the edge see only real values: pad with the lowest.
        x = ops.pad(x, [[0, 0], [0, extra], [0, extra], [0, 0]], constant_values=-3e38)
        return ops.max_pool(x, self.pool, self.stride, padding="valid")

    def _pooled(self, size: int) -> int:
        return -(-(size - self.pool) // self.stride) + 1

    def _overhang(self, size: int) -> int:
        return (self._pooled(size) - 1) * self.stride + self.pool - size

    def compute_output_shape(self, input_shape):
        size = input_shape[1] + 2 * self.pad - self.kernel + 1
        return (input_shape[0], self._pooled(size), self._pooled(size), self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            **{
                name: getattr(self, name)
                for name in (
                    "channels",
                    "pieces",
                    "kernel",
                    "pad",
                    "pool",
                    "stride",
                    "init_limit",
                    "seed",
                )
            },
        }


@keras.saving.register_keras_serializable("gan_zoo")
class UntiedBias(layers.Layer):
    """A bias for every output value (pylearn2's ``tied_b: 0``)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", name="b")

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)


def _width(units: int, factor: float) -> int:
    return max(1, round(units * factor))


def _hidden(latent_dim, units, seed):
    """z -> ReLU ``units`` -> sigmoid ``units``: both generators' trunk."""
    z = keras.Input((latent_dim,), name="z")
    h = layers.Dense(units, "relu", kernel_initializer=uniform_init(0.05, seed), name="gh0")(z)
    h = layers.Dense(units, "sigmoid", kernel_initializer=uniform_init(0.05, seed + 1), name="h1")(
        h
    )
    return z, h


def fully_connected_generator(latent_dim, image_shape, factor=1.0, seed=0) -> keras.Model:
    """cifar10_fully_connected.yaml's G: z -> ReLU 8000 -> sigmoid 8000 -> linear pixels."""
    z, h = _hidden(latent_dim, _width(8000, factor), seed)
    size = image_shape[0] * image_shape[1] * image_shape[2]
    y = layers.Dense(
        size, kernel_initializer=uniform_init(0.5, seed + 2), name="y", dtype=OUTPUT_DTYPE
    )(h)
    images = layers.Reshape(tuple(image_shape), name="image", dtype=OUTPUT_DTYPE)(y)
    return keras.Model(z, images, name="generator")


def deconvolutional_generator(latent_dim, image_shape, factor=1.0, seed=0) -> keras.Model:
    """cifar10_convolutional.yaml's G: the same trunk as 10 x 10 x 80 maps, then a
    5 x 5 transposed convolution of stride 3 to the linear image."""
    channels = _width(80, factor)
    z, h = _hidden(latent_dim, 100 * channels, seed)
    h = layers.Reshape((10, 10, channels), name="converter")(h)
    y = layers.Conv2DTranspose(
        image_shape[-1],
        5,
        strides=3,
        padding="valid",
        use_bias=False,
        kernel_initializer=uniform_init(0.05, seed + 2),
        name="y",
        dtype=OUTPUT_DTYPE,
    )(h)
    return keras.Model(z, UntiedBias(name="y_b", dtype=OUTPUT_DTYPE)(y), name="generator")


def convolutional_discriminator(image_shape, factor=1.0, seed=0) -> keras.Model:
    """cifar10_convolutional.yaml's D: three maxout convolutions, maxout 500 x 5,
    one logit; dropout .2 on the input and .5 on every other layer's input."""
    x = keras.Input(tuple(image_shape), name="image")
    h = layers.Dropout(0.2, seed=seed + 100, name="drop_input")(x)
    shapes = ((32, 8, 4, 4, 2), (32, 8, 3, 4, 2), (192, 5, 3, 2, 2))
    for i, (channels, kernel, pad, pool, stride) in enumerate(shapes):
        width = _width(channels, factor)
        h = MaxoutConv(width, 2, kernel, pad, pool, stride, seed=seed + i, name=f"h{i}")(h)
        h = layers.Dropout(0.5, seed=seed + 101 + i, name=f"drop_h{i}")(h)
    h = Maxout(_width(500, factor), 5, uniform_init(0.005, seed + 3), name="h3")(
        layers.Flatten()(h)
    )
    h = layers.Dropout(0.5, seed=seed + 104, name="drop_h3")(h)
    logit = layers.Dense(
        1, kernel_initializer=uniform_init(0.005, seed + 4), name="logit", dtype=OUTPUT_DTYPE
    )(h)
    return keras.Model(x, logit, name="discriminator")


@dataclasses.dataclass(frozen=True)
class CifarGANHparams(GANHparams):
    """The GAN family's hyperparameters, the data's normalisation and a width knob."""

    gcn_scale: float = setting(
        55.0,
        "gan_cifar10_*: global contrast normalisation of the real images: each minus its "
        "mean, scaled to this norm (pylearn2's CIFAR10(gcn=55.)).",
    )
    width_factor: float = setting(
        1.0,
        "gan_cifar10_*: every hidden layer's width times this (1 = the authors' "
        "configurations; smaller for quick trials).",
    )

    def validate(self, run) -> None:
        super().validate(run)
        check_positive("gcn_scale", self.gcn_scale)
        check_positive("width_factor", self.width_factor)
        if run.image_size != IMAGE_SIZE:
            raise UserError(
                f"--model={run.model} has the authors' networks for 32x32 images; "
                f"use --image_size=32, not {run.image_size}."
            )


@keras.saving.register_keras_serializable("gan_zoo")
class CifarGAN(GAN):
    """cifar10_fully_connected.yaml: see the module docstring."""

    paper_defaults = dict(
        GAN.paper_defaults, batch_size=100, learning_rate=0.025, image_size=IMAGE_SIZE
    )
    Hparams = CifarGANHparams

    def __init__(self, generator, discriminator, latent_dim, gcn_scale=55.0, **kwargs):
        super().__init__(generator, discriminator, latent_dim, **kwargs)
        self.gcn_scale = float(gcn_scale)

    @classmethod
    def image_shape(cls, config, source):
        return (IMAGE_SIZE, IMAGE_SIZE, source.image_shape[-1])

    @classmethod
    def build_networks(cls, config, source):
        shape = cls.image_shape(config, source)
        return (
            fully_connected_generator(config.latent_dim, shape, config.width_factor, config.seed),
            networks.maxout_discriminator(
                shape, units=_width(1600, config.width_factor), seed=config.seed + 1000
            ),
        )

    @classmethod
    def model_kwargs(cls, config):
        return dict(super().model_kwargs(config), gcn_scale=config.gcn_scale)

    def discriminator_loss(self, real, fake, batch):
        real = pixels.global_contrast_normalize(real, self.gcn_scale)
        return super().discriminator_loss(real, fake, batch)

    def generate_from(self, z, batch, training):
        images = super().generate_from(z, batch, training)
        return images if training else pixels.contrast_display(images)

    def discriminate(self, images, batch, training):
        if not training:  # served [0, 1] images
            images = pixels.global_contrast_normalize(images, self.gcn_scale)
        return super().discriminate(images, batch, training)

    def preview(self, num, seed):
        z = self.prior.stateless_sample((num, self.latent_dim), tf.constant([seed, 0]))
        return self.generate_from(z, None, training=False)

    def get_config(self):
        return {**super().get_config(), "gcn_scale": self.gcn_scale}


@keras.saving.register_keras_serializable("gan_zoo")
class ConvCifarGAN(CifarGAN):
    """cifar10_convolutional.yaml: see the module docstring."""

    paper_defaults = dict(CifarGAN.paper_defaults, batch_size=128, learning_rate=0.004)

    @classmethod
    def build_networks(cls, config, source):
        shape = cls.image_shape(config, source)
        return (
            deconvolutional_generator(config.latent_dim, shape, config.width_factor, config.seed),
            convolutional_discriminator(shape, config.width_factor, config.seed + 1000),
        )

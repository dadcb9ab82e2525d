"""Building blocks shared by models: maxout, and the MLP stacks of the papers."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

# Every network's last layer computes in float32 whatever the global dtype
# policy (--mixed_precision): sigmoid and tanh saturate, and logits and codes
# feed log-losses and exported signatures, where bfloat16's 8-bit mantissa
# would round away what matters. A float32 layer casts its input up.
OUTPUT_DTYPE = "float32"


@tf.custom_gradient
def _max_over_pieces(z):
    """max over the last axis, whose gradient goes to the first largest piece.

    TensorFlow's generic reduce_max gradient shares dy among tied pieces
    through an Equal/Cast/Sum/RealDiv chain over the whole tensor; on CPU that
    chain cost more than the max itself (README, "Training throughput"). Both are
    subgradients of the max, and they agree bit for bit where no pieces tie,
    which with real-valued affine maps is everywhere but a zero-measure set.
    """
    first = tf.argmax(z, axis=-1, output_type=tf.int32)

    def grad(dy):
        return tf.one_hot(first, tf.shape(z)[-1], dtype=dy.dtype) * dy[..., None]

    return tf.reduce_max(z, axis=-1), grad


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
        self.dense = layers.Dense(
            units * pieces, kernel_initializer=self.kernel_initializer, name="linear"
        )

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs, training=None):
        z = ops.reshape(self.dense(inputs), (-1, self.units, self.pieces))
        # Exports (training=False) keep the plain max, so their graphs hold no
        # gradient override for other runtimes to meet.
        return _max_over_pieces(z) if training else ops.max(z, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            pieces=self.pieces,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


@keras.saving.register_keras_serializable("gan_zoo")
class LabelPlanes(layers.Layer):
    """[one_hot [N, K], images [N, H, W, C]] -> the one-hot as K constant planes [N, H, W, K]."""

    def call(self, inputs):
        label, images = inputs
        shape = ops.shape(images)
        return ops.broadcast_to(
            label[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(label)[1])
        )

    def compute_output_shape(self, input_shapes):
        label, images = input_shapes
        return tuple(images[:3]) + (label[1],)


@keras.saving.register_keras_serializable("gan_zoo")
class FusedBatchNorm(layers.BatchNormalization):
    """Keras' BatchNormalization of NHWC feature maps, computed by TensorFlow's
    fused kernel.

    Keras 3 normalises with separate moment, subtract, scale and shift ops,
    and under mixed precision casts every activation to float32 and back:
    12 % (float32) and 20 % (bfloat16) of a DCGAN-64 training step on CPU
    (benchmarks/op_profile.py). The fused kernel makes one pass in the
    activations' dtype with float32 statistics. Same variables, same output;
    the moving variance averages the unbiased batch variance (as Torch's,
    which the DCGAN authors used), where Keras averages the biased one.
    Synchronized (cross-replica) statistics fall back to Keras' own code.
    """

    def call(self, inputs, training=None, mask=None):
        nhwc = len(inputs.shape) == 4 and self.axis in (-1, 3)
        if self.synchronized or self.renorm or mask is not None or not nhwc:
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        scale = self.gamma.value if self.scale else tf.ones([channels])
        offset = self.beta.value if self.center else tf.zeros([channels])
        train = bool(training) and self.trainable
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            scale,
            offset,
            mean=self.moving_mean.value,
            variance=self.moving_variance.value,
            epsilon=self.epsilon,
            is_training=train,
            exponential_avg_factor=1.0 - self.momentum if train else 1.0,
        )
        if train:  # with an averaging factor the kernel returns the new moving statistics
            self.moving_mean.assign(mean)
            self.moving_variance.assign(variance)
        return outputs


def mean_image_logit(source) -> np.ndarray:
    """The logit of the training data's mean image. The authors initialised
    G's sigmoid output bias to it (init_sigmoid_bias_from_marginals), so G
    starts out drawing the average digit instead of grey noise."""
    mean = np.clip(source.pixel_mean("train"), 1e-7, 1 - 1e-7)
    return np.log(mean) - np.log1p(-mean)


def uniform_init(limit: float, seed: int | None):
    """pylearn2's ``irange``: weights ~ U(-limit, limit)."""
    return keras.initializers.RandomUniform(-limit, limit, seed=seed)


def mlp_generator(
    latent_dim: int,
    image_shape,
    hidden=(1200, 1200),
    init_limit=0.05,
    output_bias=None,
    seed=None,
    name="generator",
) -> keras.Model:
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
        h = layers.Dense(
            width,
            activation="relu",
            name=f"h{i}",
            kernel_initializer=uniform_init(init_limit, _offset(seed, i)),
        )(h)
    size = int(image_shape[0] * image_shape[1] * image_shape[2])
    bias_init = (
        "zeros"
        if output_bias is None
        else keras.initializers.Constant(output_bias.reshape(-1).tolist())
    )
    x = layers.Dense(
        size,
        activation="sigmoid",
        name="y",
        bias_initializer=bias_init,
        kernel_initializer=uniform_init(init_limit, _offset(seed, len(hidden))),
        dtype=OUTPUT_DTYPE,
    )(h)
    x = layers.Reshape(tuple(image_shape), name="image", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(z, x, name=name)


def maxout_discriminator(
    image_shape,
    units=240,
    pieces=5,
    hidden_layers=2,
    init_limit=0.005,
    input_dropout=0.2,
    hidden_dropout=0.5,
    seed=None,
    name="discriminator",
) -> keras.Model:
    """Maxout MLP from images to one logit (shape [N, 1]), with dropout on the input and
    hidden layers. The defaults are the GAN paper's discriminator (the authors'
    mnist.yaml; their CIFAR-10 fully connected one differs only in its width)."""
    x = keras.Input(tuple(image_shape), name="image")
    h = layers.Flatten()(x)
    h = layers.Dropout(input_dropout, seed=_offset(seed, 100), name="drop_input")(h)
    for i in range(hidden_layers):
        h = Maxout(
            units,
            pieces,
            kernel_initializer=uniform_init(init_limit, _offset(seed, i)),
            name=f"h{i}",
        )(h)
        h = layers.Dropout(hidden_dropout, seed=_offset(seed, 101 + i), name=f"drop_h{i}")(h)
    logit = layers.Dense(
        1,
        name="logit",
        dtype=OUTPUT_DTYPE,
        kernel_initializer=uniform_init(init_limit, _offset(seed, hidden_layers)),
    )(h)
    return keras.Model(x, logit, name=name)


def _offset(seed, i):
    return None if seed is None else seed + i


def dense_stack(
    input_shape,
    hidden: int,
    layers_: int,
    output_units: int,
    output_activation=None,
    output_shape=None,
    label_dim: int = 0,
    name="mlp",
    hidden_activation="relu",
) -> keras.Model:
    """Flatten -> ``layers_`` ReLU (or ``hidden_activation``) layers of ``hidden``
    units -> ``output_units``.

    The AAE paper's encoder, decoder and code discriminator are all this
    shape (three 1000-unit ReLU layers on MNIST), as are the VAE's.

    Args:
      input_shape: shape of one input, e.g. (28, 28, 1) or (2,).
      hidden: width of each hidden layer.
      layers_: number of hidden layers.
      output_units: size of the (linear or ``output_activation``) output.
      output_activation: e.g. "sigmoid" for pixels; None for codes and logits.
      output_shape: reshape the output to this per-example shape, if given.
      label_dim: if > 0, the model takes a second input, a one-hot label of
        this size, concatenated to the flattened first (the CVAE's conditioning).
      name: model name.
      hidden_activation: of the hidden layers ("softplus" in Kingma et al. 2014's M2).
    """
    x = keras.Input(tuple(input_shape), name="input")
    h = layers.Flatten()(x) if len(input_shape) > 1 else x
    inputs = x
    if label_dim:
        label = keras.Input((label_dim,), name="label")
        h, inputs = layers.Concatenate()([h, label]), [x, label]
    for i in range(layers_):
        h = layers.Dense(hidden, activation=hidden_activation, name=f"h{i}")(h)
    out = layers.Dense(
        output_units, activation=output_activation, name="output", dtype=OUTPUT_DTYPE
    )(h)
    if output_shape is not None:
        out = layers.Reshape(tuple(output_shape), name="reshape", dtype=OUTPUT_DTYPE)(out)
    return keras.Model(inputs, out, name=name)


def conv_encoder(
    image_shape, output_units: int, width: int = 32, label_dim: int = 0, name="encoder"
) -> keras.Model:
    """Two stride-2 4x4 convolutions (``width``, 2 * ``width`` channels, ReLU),
    then a linear map to ``output_units``. A one-hot label (``label_dim`` > 0)
    enters as constant extra channels of the image, so every filter sees it."""
    x = keras.Input(tuple(image_shape), name="input")
    h, inputs = x, x
    if label_dim:
        label = keras.Input((label_dim,), name="label")
        planes = LabelPlanes(name="label_planes")([label, x])
        h, inputs = layers.Concatenate()([x, planes]), [x, label]
    for i, channels in enumerate((width, 2 * width)):
        h = layers.Conv2D(
            channels, 4, strides=2, padding="same", activation="relu", name=f"conv{i}"
        )(h)
    out = layers.Dense(output_units, name="output", dtype=OUTPUT_DTYPE)(layers.Flatten()(h))
    return keras.Model(inputs, out, name=name)


def conv_decoder(input_dim: int, image_shape, width: int = 32, name="decoder") -> keras.Model:
    """The mirror of :func:`conv_encoder`: a linear map to a (H/4, W/4,
    2 * width) map, two stride-2 4x4 transposed convolutions, sigmoid pixels."""
    height, wide, channels = image_shape
    if height % 4 or wide % 4:
        raise ValueError(
            f"the convolutional decoder needs H and W divisible by 4, got {image_shape}."
        )
    z = keras.Input((input_dim,), name="input")
    h = layers.Dense(height // 4 * (wide // 4) * 2 * width, activation="relu", name="project")(z)
    h = layers.Reshape((height // 4, wide // 4, 2 * width))(h)
    h = layers.Conv2DTranspose(
        width, 4, strides=2, padding="same", activation="relu", name="deconv0"
    )(h)
    out = layers.Conv2DTranspose(
        channels,
        4,
        strides=2,
        padding="same",
        activation="sigmoid",
        name="deconv1",
        dtype=OUTPUT_DTYPE,
    )(h)
    return keras.Model(z, out, name=name)


class TiedDense(layers.Layer):
    """A dense layer whose kernel is the transpose of another Dense layer's
    (the decoder W' = W^T of Rifai et al.'s autoencoders); it owns only its
    bias. The kernel is reached through a function, not an attribute, so
    that Keras tracks the variable once, in the layer that owns it, and an
    optimizer given both networks' variables updates it once, with the
    gradients of both uses."""

    def __init__(self, tied_to: layers.Dense, units: int, activation=None, **kwargs):
        super().__init__(**kwargs)
        self._kernel = lambda: tied_to.kernel
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        kernel = ops.cast(self._kernel(), inputs.dtype)
        return self.activation(ops.matmul(inputs, ops.transpose(kernel)) + self.bias)

    def get_config(self):
        # The layer it is tied to is another network's: whoever rebuilds the
        # pair ties them again (tied_autoencoder).
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }


def tied_autoencoder(image_shape, code_units: int) -> tuple[keras.Model, keras.Model]:
    """Rifai et al. 2011's autoencoder: encoder h = sigmoid(W x + b) with
    ``code_units`` units, and its :func:`tied_decoder`."""
    x = keras.Input(tuple(image_shape), name="input")
    code = layers.Dense(code_units, activation="sigmoid", name="code", dtype=OUTPUT_DTYPE)
    encoder = keras.Model(x, code(layers.Flatten()(x)), name="encoder")
    return encoder, tied_decoder(encoder)


def tied_decoder(encoder: keras.Model) -> keras.Model:
    """sigmoid(W^T h + c), reshaped to the image, where W is the kernel of
    ``encoder``'s layer "code" (a :func:`tied_autoencoder` encoder)."""
    code = encoder.get_layer("code")
    image_shape = tuple(encoder.input_shape[1:])
    h = keras.Input((code.units,), name="input")
    pixels = TiedDense(
        code, int(np.prod(image_shape)), "sigmoid", name="output", dtype=OUTPUT_DTYPE
    )(h)
    out = layers.Reshape(image_shape, name="reshape", dtype=OUTPUT_DTYPE)(pixels)
    return keras.Model(h, out, name="decoder")

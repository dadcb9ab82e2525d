"""DCGAN (Radford, Metz & Chintala, 2015): convolutional G and D under the
paper's architecture guidelines, trained by the same Algorithm 1 as
:class:`gan_zoo.models.gan.GAN` (this class only swaps the networks, the
noise range and the optimizer defaults).

The guidelines (Sec. 3), as built here:
- no pooling: G upsamples with fractionally-strided (transposed) convolutions,
  D downsamples with strided convolutions;
- BatchNorm in both networks, except G's output layer and D's input layer;
- no fully connected hidden layers: z is projected by one matrix multiply and
  reshaped to 4x4x(8 ngf) for 64-pixel images; D's last 4x4 feature map goes
  to one logit through a 4x4 "valid" convolution (the same linear map as the
  paper's flatten + sigmoid unit, but without a Dense layer);
- ReLU in G except the tanh output; LeakyReLU(0.2) in D;
- weights ~ N(0, 0.02); Adam lr 2e-4, beta_1 0.5; minibatch 128; z ~ U(-1, 1)^100.

Readings where the paper is silent, following the authors' Torch code: 4x4
kernels; BatchNorm momentum 0.9 (Torch's 0.1) and epsilon 1e-5; BatchNorm
scales start at 1 (the paper's N(0, 0.02) is read as applying to conv and
projection weights only); D sees real and generated minibatches in separate
forward passes, so BatchNorm statistics never mix them.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf
from keras import layers

from gan_zoo import priors
from gan_zoo.errors import UserError
from gan_zoo.models.gan import GAN, GANHparams
from gan_zoo.networks import OUTPUT_DTYPE, FusedBatchNorm
from gan_zoo.pixels import to_unit_range
from gan_zoo.settings import check_choice, check_positive, setting

IMAGE_SIZES = (32, 64, 128)


def _init(seed):
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def _batch_norm(name, synchronized=False):
    # synchronized: statistics over the global batch, all-reduced across
    # tf.distribute replicas; otherwise each replica normalises its own share.
    return FusedBatchNorm(momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name)


def generator(
    latent_dim: int, image_shape, ngf: int, seed: int | None = None, sync_batchnorm: bool = False
) -> keras.Model:
    """z -> tanh images of ``image_shape``; 4x4 start, resolution doubling per layer.

    Args:
      latent_dim: size of z.
      image_shape: (S, S, C) output, S in 32 / 64 / 128.
      ngf: channels of the last hidden layer; each earlier layer doubles them
        (so 8 ngf at 4x4 for S = 64, as in the paper's Figure 1).
      seed: initializer seed.
      sync_batchnorm: BatchNorm statistics over the global batch across replicas.
    """
    size, channels = int(image_shape[0]), int(image_shape[-1])
    ups = int(math.log2(size // 4))
    width = ngf * 2 ** (ups - 1)
    z = keras.Input((latent_dim,), name="z")
    h = layers.Dense(4 * 4 * width, use_bias=False, kernel_initializer=_init(seed), name="project")(
        z
    )
    h = layers.Reshape((4, 4, width), name="reshape")(h)
    h = layers.ReLU(name="project_relu")(_batch_norm("project_bn", sync_batchnorm)(h))
    for i in range(ups - 1):
        width //= 2
        h = layers.Conv2DTranspose(
            width,
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=_init(None if seed is None else seed + i + 1),
            name=f"deconv{i}",
        )(h)
        h = layers.ReLU(name=f"relu{i}")(_batch_norm(f"bn{i}", sync_batchnorm)(h))
    images = layers.Conv2DTranspose(
        channels,
        4,
        strides=2,
        padding="same",
        activation="tanh",
        kernel_initializer=_init(None if seed is None else seed + 99),
        name="output",
        dtype=OUTPUT_DTYPE,
    )(h)
    return keras.Model(z, images, name="generator")


def discriminator(
    image_shape,
    ndf: int,
    seed: int | None = None,
    sync_batchnorm: bool = False,
    norm: str = "batch",
) -> keras.Model:
    """Images -> one logit (or critic score) per image ([N, 1]); strided convs,
    LeakyReLU(0.2).

    The activations after each strided convolution are named ``features{i}``;
    the export's ``features`` signature and the SVM probe read them.
    ``norm``: "batch" (BatchNorm after every convolution but the first) or
    "none" (a WGAN-GP critic; every convolution then has a bias).
    """
    size = int(image_shape[0])
    downs = int(math.log2(size // 4))
    x = keras.Input(tuple(image_shape), name="image")
    h, width = x, ndf
    for i in range(downs):
        h = layers.Conv2D(
            width,
            4,
            strides=2,
            padding="same",
            use_bias=i == 0 or norm == "none",
            kernel_initializer=_init(None if seed is None else seed + i),
            name=f"conv{i}",
        )(h)
        if i > 0 and norm == "batch":  # no BatchNorm on the input layer
            h = _batch_norm(f"bn{i}", sync_batchnorm)(h)
        h = layers.LeakyReLU(negative_slope=0.2, name=f"features{i}")(h)
        width *= 2
    logit = layers.Conv2D(
        1,
        4,
        padding="valid",
        kernel_initializer=_init(None if seed is None else seed + 99),
        name="logit",
        dtype=OUTPUT_DTYPE,
    )(h)
    logit = layers.Flatten(name="flatten", dtype=OUTPUT_DTYPE)(logit)
    return keras.Model(x, logit, name="discriminator")


@dataclasses.dataclass(frozen=True)
class DCGANHparams(GANHparams):
    """The GAN family's hyperparameters and the convolutional networks' widths."""

    ngf: int = setting(64, "DCGAN: generator width; its last hidden layer has ngf channels.")
    ndf: int = setting(64, "DCGAN: discriminator width; its first layer has ndf channels.")
    d_norm: str = setting(
        "batch",
        "DCGAN: normalisation in the discriminator: batch (BatchNorm, the DCGAN guideline) | "
        "none (a WGAN-GP critic: its gradient penalty is per example, which batch statistics "
        "would break).",
    )
    sync_batchnorm: bool = setting(
        False,
        "DCGAN under --strategy=mirrored: BatchNorm statistics over the global batch, "
        "all-reduced across replicas, instead of each replica's share.",
    )

    def validate(self, run) -> None:
        super().validate(run)
        check_positive("ngf", self.ngf)
        check_positive("ndf", self.ndf)
        check_choice("d_norm", self.d_norm, ("batch", "none"))
        if self.penalty == "gradient" and self.d_norm == "batch":
            raise UserError(
                "--penalty=gradient is a per-example penalty, which BatchNorm's batch "
                "statistics would mix across examples; add --d_norm=none."
            )
        if run.image_size not in IMAGE_SIZES:
            raise UserError(
                f"--image_size={run.image_size} is not supported by {run.model}; "
                f"choose one of: {', '.join(map(str, IMAGE_SIZES))}."
            )


@keras.saving.register_keras_serializable("gan_zoo")
class DCGAN(GAN):
    """A GAN whose networks follow the DCGAN guidelines; see the module docstring."""

    # Radford et al. 2015, Sec. 4: batch 128, Adam lr 2e-4 with beta_1 0.5,
    # z ~ U(-1, 1)^100. LSUN models were shown after 1 and 5 epochs.
    paper_defaults = dict(
        batch_size=128,
        latent_dim=100,
        d_steps=1,
        adversarial_loss="non_saturating",
        noise="uniform",
        optimizer="adam",
        learning_rate=2e-4,
        beta_1=0.5,
        lr_decay=1.0,
        epochs=5,
        image_size=64,
        ngf=64,
        ndf=64,
    )
    Hparams = DCGANHparams
    output_range = (-1.0, 1.0)
    serves = ("adversarial", "features")

    def make_prior(self, name):
        """p(z); "uniform" is U(-1, 1) here, as in the DCGAN paper."""
        return priors.Uniform(1.0) if name == "uniform" else priors.noise(name)

    @classmethod
    def image_shape(cls, config, source):
        return (config.image_size, config.image_size, source.image_shape[-1])

    @classmethod
    def build_networks(cls, config, source):
        shape = cls.image_shape(config, source)
        return (
            generator(
                config.latent_dim,
                shape,
                config.ngf,
                seed=config.seed,
                sync_batchnorm=config.sync_batchnorm,
            ),
            discriminator(
                shape,
                config.ndf,
                seed=config.seed + 1000,
                sync_batchnorm=config.sync_batchnorm,
                norm=config.d_norm,
            ),
        )

    # Its generator normalises with BatchNorm, so samples drawn with batch
    # statistics differ from the export's.
    capabilities = frozenset({"preview_with_batch_stats"})

    def preview_with_batch_stats(self, num, seed, batch_size):
        """Like :meth:`preview`, but G normalises each minibatch of ``batch_size``
        by its own statistics, as in training and as many DCGAN codes sample
        (PyTorch's example never switches G to eval mode). The moving
        averages that this updates are put back, so training is unaffected."""
        z = self.prior.stateless_sample((num, self.latent_dim), tf.constant([seed, 0]))
        state = [(v, tf.identity(v)) for v in self.generator.non_trainable_variables]
        images = [
            self.generator(z[start : start + batch_size], training=True)
            for start in range(0, num, batch_size)
        ]
        for variable, value in state:
            variable.assign(value)
        return to_unit_range(tf.concat(images, axis=0), self.output_range)

    def feature_layers(self):
        """D's activations after each strided convolution, input side first."""
        return [layer for layer in self.discriminator.layers if layer.name.startswith("features")]

    def features(self, images):
        """The paper's Sec. 5.1 representation: every D layer max-pooled to 4x4,
        flattened and concatenated. ``images`` are in the model's range."""
        extractor = getattr(self, "_feature_model", None)
        if extractor is None:
            extractor = keras.Model(
                self.discriminator.inputs, [layer.output for layer in self.feature_layers()]
            )
            self._feature_model = extractor
        pooled = []
        for fmap in extractor(images, training=False):
            pool = int(fmap.shape[1]) // 4
            if pool > 1:
                fmap = tf.nn.max_pool2d(fmap, pool, pool, "VALID")
            pooled.append(tf.reshape(tf.cast(fmap, tf.float32), [tf.shape(fmap)[0], -1]))
        return tf.concat(pooled, axis=1)

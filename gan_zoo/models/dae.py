"""Denoising autoencoder (Vincent et al., 2008).

The encoder reads a corrupted image and the decoder must rebuild the clean
one, so the code has to capture the structure that lets the model undo the
corruption instead of copying pixels. ``--corruption`` picks the noise:

- ``gaussian``: additive N(0, level^2) per pixel (not clipped: the encoder
  sees the noise as drawn);
- ``masking``: a random ``level`` fraction of pixels set to 0 (Vincent et
  al.'s masking noise; 25 % on MNIST is their default here);
- ``salt_and_pepper``: a random ``level`` fraction set to 0 or 1, equally likely.

Each training step draws fresh corruption from the model's seed stream;
the target is always the clean image.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from gan_zoo import priors
from gan_zoo.errors import UserError
from gan_zoo.models.ae import AE, AEHparams
from gan_zoo.settings import check_choice, check_non_negative, setting

CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")


def corrupt(images, kind: str, level: float, generator):
    """``images`` (pixels in [0, 1]) with ``kind`` noise of strength ``level``.

    Args:
      images: float tensor [N, ...].
      kind: one of CORRUPTIONS.
      level: std of the gaussian noise, or the fraction of pixels hit.
      generator: a keras SeedGenerator (advanced per draw; replica-aware).
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of: {', '.join(CORRUPTIONS)}.")
    shape = tf.shape(images)
    if kind == "gaussian":
        return images + level * priors.replica_draw(tf.random.stateless_normal, shape, generator)
    hit = priors.replica_draw(tf.random.stateless_uniform, shape, generator) < level
    if kind == "masking":
        return tf.where(hit, tf.zeros_like(images), images)
    coin = priors.replica_draw(tf.random.stateless_uniform, shape, generator)
    return tf.where(hit, tf.cast(coin < 0.5, images.dtype), images)


@dataclasses.dataclass(frozen=True)
class DAEHparams(AEHparams):
    """An autoencoder's hyperparameters and the corruption of its input."""

    corruption: str = setting(
        "masking",
        "dae: input corruption, gaussian (additive, std --corruption_level) | masking "
        "(a --corruption_level fraction of pixels set to 0) | salt_and_pepper (a "
        "fraction set to 0 or 1).",
    )
    corruption_level: float = setting(0.25, "dae: std of gaussian noise, or fraction of pixels.")

    def validate(self, run) -> None:
        super().validate(run)
        check_choice("corruption", self.corruption, CORRUPTIONS)
        check_non_negative("corruption_level", self.corruption_level)
        if self.corruption != "gaussian" and not 0.0 < self.corruption_level < 1.0:
            raise UserError(
                f"--corruption_level={self.corruption_level} is the fraction of "
                f"pixels {self.corruption} noise hits; it must be in (0, 1)."
            )


@keras.saving.register_keras_serializable("gan_zoo")
class DAE(AE):
    """An AE trained to rebuild clean images from corrupted ones.

    Args (besides :class:`AE`'s):
      corruption: one of CORRUPTIONS.
      corruption_level: its strength.
    """

    Hparams = DAEHparams
    draws = AE.draws + ("denoising",)
    paper_defaults = dict(AE.paper_defaults, corruption="masking", corruption_level=0.25)

    def __init__(
        self, encoder, decoder, latent_dim, corruption="masking", corruption_level=0.25, **kwargs
    ):
        super().__init__(encoder, decoder, latent_dim, **kwargs)
        self.corruption, self.corruption_level = corruption, float(corruption_level)

    @classmethod
    def model_kwargs(cls, config, source, steps_per_epoch):
        return dict(
            super().model_kwargs(config, source, steps_per_epoch),
            corruption=config.corruption,
            corruption_level=config.corruption_level,
        )

    def inputs_and_targets(self, batch):
        clean = batch["image"]
        return corrupt(clean, self.corruption, self.corruption_level, self.seed_generator), clean

    def get_config(self):
        return {
            **super().get_config(),
            "corruption": self.corruption,
            "corruption_level": self.corruption_level,
        }

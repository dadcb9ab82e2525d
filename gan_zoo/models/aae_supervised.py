"""Supervised adversarial autoencoder (Makhzani et al. 2015, Sec. 4, Fig. 6).

The one-hot label goes to the decoder beside z, so the code no longer has to
carry the digit's identity and learns its style instead: decoding one z with
every label writes all ten digits in the same hand (the ``style`` picture).
Everything else, both phases included, is :class:`gan_zoo.models.aae.AAE`;
the label-taking decoder, its pictures and export signatures are
:class:`gan_zoo.models.ae.AE`'s.
"""

from __future__ import annotations

import keras

from gan_zoo.models.aae import AAE


@keras.saving.register_keras_serializable("gan_zoo")
class SupervisedAAE(AAE):
    """An AAE whose decoder reads [z, one_hot(label)]."""

    decoder_takes_label = True

"""Conditional variational autoencoder (Sohn et al., 2015; Kingma et al., 2014, M2's
generative side): the one-hot label is concatenated to the encoder's input and
to the decoder's z, so z is free to model everything but the class. Decoding
one z with every label gives the ``style`` picture, and the export's
``decode`` / ``generate_for_labels`` draw a chosen digit. The objective and
everything else are :class:`gan_zoo.models.vae.VAE`'s.
"""

from __future__ import annotations

import keras

from gan_zoo.models.vae import VAE


@keras.saving.register_keras_serializable("gan_zoo")
class CVAE(VAE):
    """A VAE whose encoder reads [x, one_hot(y)] and decoder [z, one_hot(y)]."""

    encoder_takes_label = True
    decoder_takes_label = True

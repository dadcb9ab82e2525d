"""Supervised adversarial autoencoder (Makhzani et al. 2015, Sec. 4, Fig. 6).

The one-hot label goes to the decoder beside z, so the code no longer has to
carry the digit's identity and learns its style instead: decoding one z with
every label writes all ten digits in the same hand. Everything else, both
phases included, is :class:`gan_zoo.models.aae.AAE`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gan_zoo import visualization
from gan_zoo.datasets.pipeline import from_unit_range, to_unit_range
from gan_zoo.models.aae import AAE


@keras.saving.register_keras_serializable("gan_zoo")
class SupervisedAAE(AAE):
    """An AAE whose decoder reads [z, one_hot(label)]."""

    decoder_takes_label = True

    def decode(self, code, labels, training=False):
        if labels is None:
            raise ValueError("the supervised AAE decodes a code together with its label.")
        z = code["z"]
        one_hot = tf.one_hot(labels, self.num_classes, dtype=z.dtype)
        return self.decoder(tf.concat([z, one_hot], axis=1), training=training)

    def call(self, images, training=False):
        raise NotImplementedError("the supervised AAE needs labels: use decode(encode(x), y).")

    def pictures(self, images, labels):
        """Reconstructions, q(z) and, instead of an unlabelled manifold, the
        style picture: each row one held-out digit's z decoded with every label."""
        pictures = super().pictures(images, labels)
        rows = tf.repeat(self.encode(images[:10])["z"], self.num_classes, axis=0)
        decoded = self.decode({"z": rows}, self.cycling_labels(len(rows), self.num_classes))
        pictures["style"] = visualization.image_grid(
            to_unit_range(decoded, self.output_range).numpy(), cols=self.num_classes)
        return pictures

    def export_signatures(self):
        signatures = super().export_signatures()
        value_range, latent = self.output_range, self.latent_dim
        label_spec = tf.TensorSpec([None], tf.int32, name="label")

        @tf.function(input_signature=[tf.TensorSpec([None, latent], tf.float32, name="z"),
                                      label_spec])
        def decode(z, label):
            return {"images": to_unit_range(self.decode({"z": z}, label), value_range)}

        @tf.function(input_signature=[self.images_spec(), label_spec])
        def reconstruct(images, label):
            code = self.encode(from_unit_range(images, value_range))
            return {"images": to_unit_range(self.decode(code, label), value_range)}

        signatures.update(decode=decode, reconstruct=reconstruct)
        return signatures

"""The serving signatures of an export, built from what a model can do.

A model lists what it serves in ``serves`` (e.g. ``("adversarial",
"features")``); :func:`for_model` joins the signatures of each. Every
signature takes and returns images in [0, 1], whatever range the model works
in, and has a fixed input signature, so that the export needs no gan_zoo.

- ``adversarial`` (GAN, DCGAN, cGAN): ``generate`` (z), ``sample`` (num,
  seed) and ``discriminate`` (images); each takes a ``label`` [N] as well
  where the networks are conditional (``sample`` then draws every class in
  turn).
- ``features`` (DCGAN): the discriminator's features of the paper's Sec. 5.1.
- ``autoencoder``: ``encode``, ``decode``, ``reconstruct``, and
  ``generate`` / ``sample`` (num, seed: decodes of prior draws); with a
  label-reading decoder also ``generate_for_labels``.
- ``categories`` (AAEs with a categorical code): ``decode`` (z and a
  category y) and the model's ``categories_signature`` (``classify`` or
  ``cluster``: q(y|x) and its argmax).
- ``representation`` (the dimensionality-reduction AAEs, whose ``encode``
  also returns the representation W_c y + z): ``decode_representation``,
  images of points of that map.
"""

from __future__ import annotations

import tensorflow as tf

from gan_zoo.pixels import from_unit_range, to_unit_range

NUM = tf.TensorSpec([], tf.int32, name="num")
SEED = tf.TensorSpec([], tf.int64, name="seed")
LABEL = tf.TensorSpec([None], tf.int32, name="label")


def traced(fn, *specs):
    """``fn`` as a tf.function of the input signature ``specs``, traced as
    written: every serving function here, and the wrappers that export.py and
    onnx_export.py put around them, branches only on Python values (is the
    model conditional?). AutoGraph would convert them from their source files
    as those are on disk at tracing time, so a run whose checkout was edited
    (a `git pull`) while it trained failed at its next export; and conversion
    added to every export's cost."""
    return tf.function(fn, input_signature=list(specs), autograph=False)


def _signature(*specs):
    """Decorator form of :func:`traced`."""
    return lambda fn: traced(fn, *specs)


def _images_spec(network) -> tf.TensorSpec:
    """[None, H, W, C] float32 images, the shape ``network`` reads."""
    return tf.TensorSpec((None,) + tuple(network.inputs[0].shape[1:]), tf.float32, name="images")


def _seed_pair(seed):
    return tf.stack([seed, tf.constant(0, tf.int64)])


def adversarial(model) -> dict:
    value_range, latent, prior = model.output_range, model.latent_dim, model.prior
    labels = [LABEL] if model.conditional else []

    def generate(z, label=None):
        images = model.generate_from(z, {"label": label}, training=False)
        return {"images": to_unit_range(images, value_range)}

    @_signature(NUM, SEED)
    def sample(num, seed):
        z = prior.stateless_sample(tf.stack([num, latent]), _seed_pair(seed))
        if not model.conditional:
            return {**generate(z), "z": z}
        label = model.block_labels(num, model.num_classes)
        return {**generate(z, label), "z": z, "label": label}

    def discriminate(images, label=None):
        outputs = model.discriminate(
            from_unit_range(images, value_range), {"label": label}, training=False
        )
        return model.objective.served(outputs)

    return {
        "generate": traced(generate, tf.TensorSpec([None, latent], tf.float32, name="z"), *labels),
        "sample": sample,
        "discriminate": traced(discriminate, _images_spec(model.discriminator), *labels),
    }


def features(model) -> dict:
    def features(images):
        return {"features": model.features(from_unit_range(images, model.output_range))}

    return {"features": traced(features, _images_spec(model.discriminator))}


def autoencoder(model) -> dict:
    value_range = model.output_range
    images = _images_spec(model.encoder)
    z = tf.TensorSpec([None, model.latent_dim], tf.float32, name="z")
    encoder_labels = [LABEL] if model.encoder_takes_label else []
    decoder_labels = [LABEL] if model.decoder_takes_label else []

    def encode(images, label=None):
        return model.encode(from_unit_range(images, value_range), label)

    def decode(z, label=None):
        return {"images": to_unit_range(model.decode({"z": z}, label), value_range)}

    def reconstruct(images, label=None):
        code = model.encode(from_unit_range(images, value_range), label)
        return {"images": to_unit_range(model.decode(code, label), value_range)}

    def decoded_draws(num, seed, labels):
        code = model.stateless_code(num, _seed_pair(seed))
        return {"images": to_unit_range(model.decode(code, labels), value_range), **code}

    @_signature(NUM, SEED)
    def generate(num, seed):
        return decoded_draws(num, seed, model.cycling_labels(num, model.num_classes))

    # `sample` is the name every generative export shares (gan_zoo.sample uses it).
    signatures = {
        "encode": traced(encode, images, *encoder_labels),
        "decode": traced(decode, z, *decoder_labels),
        "reconstruct": traced(reconstruct, images, *(encoder_labels or decoder_labels)),
        "generate": generate,
        "sample": generate,
    }
    if model.decoder_takes_label:

        @_signature(LABEL, SEED)
        def generate_for_labels(label, seed):
            return decoded_draws(tf.shape(label)[0], seed, label)

        signatures["generate_for_labels"] = generate_for_labels
    return signatures


def categories(model) -> dict:
    value_range, k = model.output_range, model.categorical.num_categories

    @_signature(
        tf.TensorSpec([None, model.latent_dim], tf.float32, name="z"),
        tf.TensorSpec([None], tf.int32, name="y"),
    )
    def decode(z, y):
        return {"images": to_unit_range(model.decode({"y": tf.one_hot(y, k), "z": z}), value_range)}

    def categorize(images):
        logits = model.categorical.logits_and_z(from_unit_range(images, value_range))[0]
        return {
            "probabilities": tf.nn.softmax(logits),
            "y": tf.argmax(logits, axis=1, output_type=tf.int32),
        }

    return {
        "decode": decode,
        model.categories_signature: traced(categorize, _images_spec(model.encoder)),
    }


def representation(model) -> dict:
    value_range = model.output_range

    @_signature(tf.TensorSpec([None, model.latent_dim], tf.float32, name="representation"))
    def decode_representation(representation):
        return {"images": to_unit_range(model.decoder(representation), value_range)}

    return {"decode_representation": decode_representation}


KINDS = {
    "adversarial": adversarial,
    "features": features,
    "autoencoder": autoencoder,
    "categories": categories,
    "representation": representation,
}


def for_model(model) -> dict:
    """Signature name -> tf.function (with its input signature) of everything
    ``model.serves``; a later kind's signature replaces an earlier one of the
    same name (the categorical ``decode`` takes y besides z)."""
    signatures = {}
    for kind in model.serves:
        signatures.update(KINDS[kind](model))
    return signatures

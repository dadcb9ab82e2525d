"""Why does the clustering AAE's categorical code collapse, and what fixes it?

Trains flags/aae_mnist_clustering.flags on MNIST's paper split without
reconstruction-only pre-training (--pretrain_epochs=0), with the flagfile's
Adam or with the AAE appendix's plain SGD, with or without noise on the
discriminators' inputs (--d_input_noise; the flagfile has 0.3; --noise_on=y
spares z's discriminator), and optionally another --latent_dim,
--recon_loss, encoder loss (--g_loss=minimax, eq. 1's log(1 - D) in place
of gan_zoo's -log D) or any other setting (--set=name=value); after every
epoch it prints one JSON line measured on the 10,000 validation digits (the
test digits are never read):

- ``val_cluster_error``: each category labelled by the majority label of its
  members, as the flagfile logs it;
- ``categories_used``: categories holding at least 1 % of the digits;
- ``largest_category``: the share of the digits in the fullest one;
- ``mean_max_probability``: the mean of max_k q(y = k | x); near 1 the
  softmax is saturated and passes almost no gradient back to the encoder;
- ``class_from_z``: how much of the digit the style z holds, as a linear
  readout (experiments/aae_experiment.py); the clusters can only be the
  digits if z leaves the digit to y.

    python experiments/aae_clustering_collapse.py --variant=appendix_sgd \
        --d_input_noise=0 --epochs=5 --data_dir=../shared/data/mnist

Variants: adam (the flagfile's optimisers), appendix_sgd (reconstruction lr
0.01 with momentum 0.9, both adversarial networks lr 0.1 with momentum 0.1;
experiments/aae_experiment.py, as the semi-supervised experiments read it).
"""

from __future__ import annotations

import json
import os
import sys
import time
import types

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aae_experiment  # noqa: E402

flags.DEFINE_enum("variant", "adam", ["adam", "appendix_sgd"], "The optimisers.")
flags.DEFINE_float("d_input_noise", 0.3, "Std of the noise on the discriminators' inputs.")
flags.DEFINE_integer("latent_dim", 0, "Size of the style z (0 = the flagfile's).")
flags.DEFINE_string("recon_loss", "", "Reconstruction loss, bce or mse ('' = the flagfile's).")
flags.DEFINE_enum("noise_on", "both", ["both", "y"], "Which discriminators get the noise.")
flags.DEFINE_enum(
    "g_loss",
    "non_saturating",
    ["non_saturating", "minimax"],
    "The encoder's adversarial loss: -log D(code) (gan_zoo's) or log(1 - D(code)) (eq. 1).",
)
flags.DEFINE_multi_string(
    "set", [], "Any other flagfile setting to change, as name=value (e.g. input_noise=0.3)."
)
aae_experiment.define_flags(epochs=5, workdir="/tmp/aae_clustering_collapse")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from gan_zoo import losses
    from gan_zoo.datasets import pipeline
    from gan_zoo.models import aae

    cfg, source, model, data, steps = aae_experiment.prepare(
        "aae_mnist_clustering.flags",
        FLAGS.variant,
        {
            "pretrain_epochs": 0,
            "d_input_noise": FLAGS.d_input_noise,
            **({"latent_dim": FLAGS.latent_dim} if FLAGS.latent_dim else {}),
            **({"recon_loss": FLAGS.recon_loss} if FLAGS.recon_loss else {}),
            **aae_experiment.parse_settings(FLAGS.set),
        },
    )
    if FLAGS.g_loss == "minimax":  # read when the training step is traced, so set before fit
        aae.losses = types.SimpleNamespace(
            **{**vars(losses), "generator_loss_non_saturating": losses.generator_loss_minimax}
        )
    if FLAGS.noise_on == "y":  # z's discriminator reads clean codes
        discriminate = model.discriminate

        def y_noise_only(name, code, labels):
            noise, model.d_input_noise = model.d_input_noise, model.d_input_noise * (name == "y")
            try:
                return discriminate(name, code, labels)
            finally:
                model.d_input_noise = noise

        model.discriminate = y_noise_only
    images, labels = pipeline.held_out(source, 10000, model.output_range)
    for epoch in range(1, FLAGS.epochs + 1):
        start = time.time()
        history = model.fit(
            data,
            epochs=epoch,
            initial_epoch=epoch - 1,
            steps_per_epoch=steps,
            callbacks=model.training_callbacks(),  # ends --d_input_noise_epochs on time
            verbose=0,
        ).history
        parts = [
            [t.numpy() for t in model.categorical.logits_and_z(images[i : i + 1000])]
            for i in range(0, len(labels), 1000)
        ]
        logits, z = (np.concatenate(p) for p in zip(*parts))
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        shares = np.bincount(probabilities.argmax(axis=1), minlength=cfg.num_clusters) / len(logits)
        print(
            json.dumps(
                {
                    "variant": FLAGS.variant,
                    "d_input_noise": model.d_input_noise * model.noisy,
                    "latent_dim": cfg.latent_dim,
                    "reconstruction": cfg.recon_loss,
                    "noise_on": FLAGS.noise_on,
                    "encoder_loss": FLAGS.g_loss,
                    "set": FLAGS.set,
                    "epoch": epoch,
                    "val_cluster_error": model.held_out_metrics(images, labels)["cluster_error"],
                    "categories_used": int(np.sum(shares >= 0.01)),
                    "largest_category": round(float(shares.max()), 4),
                    "mean_max_probability": round(float(probabilities.max(axis=1).mean()), 5),
                    "class_from_z": aae_experiment.class_from_z(z, labels.numpy()),
                    **{k: round(float(v[-1]), 4) for k, v in history.items()},
                    "seconds": round(time.time() - start, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)

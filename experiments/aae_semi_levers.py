"""Where does the semi-supervised AAE put the class: in y or in z?

Trains flags/aae_mnist_semi_supervised.flags on MNIST's paper split with one
lever changed, and after every epoch prints one JSON line of measurements on
the 10,000 validation digits (the test digits are never read):

- ``val_error``: argmax q(y|x) against the labels;
- ``class_control``: each of 1,000 validation codes z decoded with every
  label k; the share the project's MNIST classifier reads as k (1 = y alone
  sets the digit, 0.1 = the decoder ignores y);
- ``class_from_z``: accuracy of a ridge-regression readout of the label from
  z, fitted on 5,000 codes and scored on the other 5,000 (0.1 = none).

    python experiments/aae_semi_levers.py --variant=z5 --epochs=6 --data_dir=../shared/data/mnist

Variants (the README's table): base (the flagfile's 10-D z), noise
(--input_noise=0.3), d_lr (--d_learning_rate=1e-3), appendix_sgd (the AAE
appendix's SGD rates and momenta, with input noise), z5, z2 (--latent_dim),
d_noise and z5_d_noise (--d_input_noise=0.3 with a 10-D or 5-D z).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aae_experiment  # noqa: E402

VARIANTS = {
    "base": {"latent_dim": 10},
    "noise": {"latent_dim": 10, "input_noise": 0.3},
    "d_lr": {"latent_dim": 10, "d_learning_rate": 1e-3},
    "appendix_sgd": {"latent_dim": 10, "input_noise": 0.3},
    "z5": {"latent_dim": 5},
    "z2": {"latent_dim": 2},
    "d_noise": {"latent_dim": 10, "d_input_noise": 0.3},
    "z5_d_noise": {"latent_dim": 5, "d_input_noise": 0.3},
}
flags.DEFINE_enum("variant", "base", list(VARIANTS), "The lever to change.")
aae_experiment.define_flags(epochs=6, workdir="/tmp/aae_semi_levers")
FLAGS = flags.FLAGS


def class_control(model, z, reader) -> float:
    asked = np.tile(np.arange(10), len(z))
    decoded = np.concatenate(
        [
            model.decode(
                {
                    "y": np.eye(10, dtype=np.float32)[asked[i : i + 1000]],
                    "z": np.repeat(z, 10, axis=0)[i : i + 1000],
                }
            ).numpy()
            for i in range(0, len(asked), 1000)
        ]
    )
    return float(np.mean(np.argmax(reader(decoded)[1], axis=1) == asked))


def main(argv):
    del argv
    from gan_zoo.datasets import pipeline
    from gan_zoo.evaluation.classifier import MnistClassifier

    cfg, source, model, data, steps = aae_experiment.prepare(
        "aae_mnist_semi_supervised.flags",
        FLAGS.variant,
        VARIANTS[FLAGS.variant],
    )
    images, labels = pipeline.held_out(source, 10000, model.output_range)
    labels = labels.numpy()
    reader = MnistClassifier()
    for epoch in range(1, FLAGS.epochs + 1):
        start = time.time()
        history = model.fit(
            data, epochs=epoch, initial_epoch=epoch - 1, steps_per_epoch=steps, verbose=0
        ).history
        logits, z = (
            np.concatenate(parts)
            for parts in zip(
                *[
                    [t.numpy() for t in model.categorical.logits_and_z(images[i : i + 1000])]
                    for i in range(0, len(labels), 1000)
                ]
            )
        )
        print(
            json.dumps(
                {
                    "variant": FLAGS.variant,
                    "epoch": epoch,
                    "val_error": float(np.mean(np.argmax(logits, axis=1) != labels)),
                    "class_control": class_control(model, z[:1000], reader),
                    "class_from_z": aae_experiment.class_from_z(z, labels),
                    "recon_loss": float(history["recon_loss"][-1]),
                    "seconds": round(time.time() - start, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)

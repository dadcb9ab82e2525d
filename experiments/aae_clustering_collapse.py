"""Does the clustering AAE's categorical code collapse because of the optimiser?

Trains flags/aae_mnist_clustering.flags on MNIST's paper split *without* its
reconstruction-only pre-training (--pretrain_epochs=0), with the flagfile's
Adam or with the AAE appendix's plain SGD, and after every epoch prints one
JSON line measured on the 10,000 validation digits (the test digits are
never read):

- ``val_cluster_error``: each category labelled by the majority label of its
  members, as the flagfile logs it;
- ``categories_used``: categories holding at least 1 % of the digits;
- ``largest_category``: the share of the digits in the fullest one;
- ``mean_max_probability``: the mean of max_k q(y = k | x); near 1 the
  softmax is saturated and passes almost no gradient back to the encoder.

    python experiments/aae_clustering_collapse.py --variant=appendix_sgd --epochs=5 \
        --data_dir=../shared/data/mnist

Variants: adam (the flagfile's optimisers), appendix_sgd (reconstruction lr
0.01 with momentum 0.9, both adversarial networks lr 0.1 with momentum 0.1;
experiments/aae_appendix.py, as the semi-supervised experiments read it).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from aae_appendix import appendix_optimizers  # noqa: E402

FLAGFILE = os.path.join(ROOT, "flags", "aae_mnist_clustering.flags")
flags.DEFINE_enum("variant", "adam", ["adam", "appendix_sgd"], "The optimisers.")
flags.DEFINE_integer("epochs", 5, "Epochs to train and measure.")
flags.DEFINE_integer(
    "steps_per_epoch", 0, "Cap on steps per epoch (0 = a full pass), for a smoke run."
)
flags.DEFINE_string("data_dir", "../shared/data/mnist", "MNIST's four IDX files.")
flags.DEFINE_string("workdir", "/tmp/aae_clustering_collapse", "Scratch run directory.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from gan_zoo import config, execution, training
    from gan_zoo.datasets import pipeline

    with open(FLAGFILE) as f:
        settings = config.parse_flagfile(f.read())
    settings.update(
        data_dir=FLAGS.data_dir,
        paper_split=True,
        pretrain_epochs=0,
        epochs=FLAGS.epochs,
        steps_per_epoch=FLAGS.steps_per_epoch,
        workdir=os.path.join(FLAGS.workdir, FLAGS.variant),
    )
    cfg = config.resolve(settings)
    source, model, make_dataset, steps, *_ = training._prepare(cfg, resume_from=None)
    if FLAGS.variant == "appendix_sgd":
        optimizers = appendix_optimizers()
        del optimizers["c_optimizer"]  # no labelled phase here
        model.compile(**optimizers)  # before the first fit, in place of the flagfile's
        model = execution.configure(model, cfg)
    images, labels = pipeline.held_out(source, 10000, model.output_range)
    data = make_dataset(0)
    for epoch in range(1, FLAGS.epochs + 1):
        start = time.time()
        history = model.fit(
            data, epochs=epoch, initial_epoch=epoch - 1, steps_per_epoch=steps, verbose=0
        ).history
        logits = np.concatenate(
            [
                model.categorical.logits_and_z(images[i : i + 1000])[0].numpy()
                for i in range(0, len(labels), 1000)
            ]
        )
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        shares = np.bincount(probabilities.argmax(axis=1), minlength=cfg.num_clusters) / len(logits)
        print(
            json.dumps(
                {
                    "variant": FLAGS.variant,
                    "epoch": epoch,
                    "val_cluster_error": model.held_out_metrics(images, labels)["cluster_error"],
                    "categories_used": int(np.sum(shares >= 0.01)),
                    "largest_category": round(float(shares.max()), 4),
                    "mean_max_probability": round(float(probabilities.max(axis=1).mean()), 5),
                    **{k: round(float(v[-1]), 4) for k, v in history.items()},
                    "seconds": round(time.time() - start, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)

"""Classify with a DCGAN's discriminator features (DCGAN paper, Sec. 5.1).

    python -m gan_zoo.probe --export=runs/dcgan_mnist/export --dataset=mnist --data_dir=DIR \
        --out=probe.json

Runs the labelled images of --dataset (train and test splits) through the
export's ``features`` signature (every discriminator layer max-pooled to
4x4, concatenated), trains a one-vs-rest linear L2-SVM on the training
features and reports the test accuracy. Images are resized to the export's
image size, and grayscale is repeated to RGB for a colour model. Only DCGAN
exports have the ``features`` signature. See gan_zoo/evaluation/svm.py for the SVM.

The dataset defaults to the one the model was trained on (from the export's
gan_zoo.json); the paper trained on ImageNet-1k and probed CIFAR-10, i.e. a
different dataset, which --dataset/--data_dir allow. --max_train caps the
training examples (the first ones of the split), which makes the SVM much
faster; the README gives measured times and accuracies.

Prints progress, the test accuracy, the JSON path, and last the JSON itself
on one line.
"""

from __future__ import annotations

import json

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("export", None, "A DCGAN export directory written by train.py.")
flags.DEFINE_string("dataset", None, "Labelled dataset to classify (default: the export's).")
flags.DEFINE_string("data_dir", None, "The dataset's files (default: the export's --data_dir).")
flags.DEFINE_integer("max_train", 0, "Use at most this many training examples (0 = all).")
flags.DEFINE_integer("max_test", 0, "Use at most this many test examples (0 = all).")
flags.DEFINE_list(
    "l2",
    ["1e-3"],
    "SVM regularisation lambda; several values are compared on the last 10% of the "
    "training examples and the best is retrained on all of them.",
)
flags.DEFINE_integer("svm_steps", 50, "Maximum Newton iterations of the SVM.")
flags.DEFINE_float("tol", 1e-3, "SVM convergence: gradient norm relative to its start value.")
flags.DEFINE_integer("batch_size", 256, "Images per call of the export.")
flags.DEFINE_string("out", "probe.json", "Output JSON path.")
FLAGS = flags.FLAGS

_NEEDS_DCGAN = (
    "probe needs a DCGAN export (train.py --model=dcgan), whose discriminator "
    "features it classifies"
)


def check_settings() -> list[float]:
    """Validates the flags; returns the SVM's L2 weights to try."""
    from gan_zoo import exported, settings

    for name in ("svm_steps", "batch_size", "tol"):
        settings.check_positive(name, FLAGS[name].value)
    for name in ("max_train", "max_test"):
        settings.check_non_negative(name, FLAGS[name].value, " (0 = all)")
    exported.check_given(FLAGS.export)
    return _parse_l2(FLAGS.l2)


def main(argv):
    del argv
    import os

    from gan_zoo import exported, registry, storage
    from gan_zoo.datasets.base import load_labelled
    from gan_zoo.evaluation import svm

    l2 = check_settings()
    model = exported.load_export(FLAGS.export)
    model.signature("features", _NEEDS_DCGAN)

    # The export's own config supplies whatever else a loader may read (e.g. image_size).
    cfg = model.data_config(FLAGS.dataset, FLAGS.data_dir, paper_split=False, max_examples=0)
    source = registry.dataset_loader(cfg.dataset)(cfg)
    train_images, train_labels = load_labelled(source, "train", FLAGS.max_train)
    test_images, test_labels = load_labelled(source, "test", FLAGS.max_test)

    result = svm.run_probe(
        model,
        train_images,
        train_labels,
        test_images,
        test_labels,
        l2=l2,
        num_classes=source.num_classes,
        steps=FLAGS.svm_steps,
        tol=FLAGS.tol,
        batch_size=FLAGS.batch_size,
        log=print,
    )
    result = dict(dataset=cfg.dataset, **result)
    print(
        f"test accuracy {result['test_accuracy']:.4f} (error {result['test_error']:.4f}) on "
        f"{result['test_examples']} {cfg.dataset} test images, linear L2-SVM on "
        f"{result['num_features']} discriminator features of {result['train_examples']} "
        "training images"
        + (
            ""
            if result["svm_converged"]
            else f"; the SVM did not converge in {FLAGS.svm_steps} steps"
        )
    )
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    storage.write_text(FLAGS.out, json.dumps(result, indent=2, sort_keys=True))
    print(f"Wrote {FLAGS.out}")
    print(json.dumps(result, sort_keys=True))


def _parse_l2(values: list[str]) -> list[float]:
    from gan_zoo.errors import UserError

    try:
        parsed = [float(v) for v in values]
    except ValueError:
        parsed = []
    if not parsed or not all(0 < v < float("inf") for v in parsed):
        raise UserError(f"--l2={','.join(values)} must be one or more comma-separated numbers > 0.")
    return parsed


if __name__ == "__main__":
    cli.run(main, check=check_settings)

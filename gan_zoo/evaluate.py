"""Score generated samples: Parzen log-likelihood, FID, KID, Inception /
classifier score, mode coverage and memorization, next to real data scored
the same way; and the test error of a model whose code classifies
(``--metrics=error``).

    python -m gan_zoo.evaluate --export=runs/gan_mnist/export --dataset=mnist --data_dir=DIR
    python -m gan_zoo.evaluate --samples=samples.npy --metrics=fid,kid --dataset=mnist \
        --data_dir=DIR
    python -m gan_zoo.evaluate --export=runs/aae_mnist_semi_100/export --metrics=error

--export draws --num_samples images through the export's ``sample``
signature (nothing of the Python model is used); --samples reads an .npy
of uint8 0-255 or float [0, 1] images, shaped (N, H, W, C), (N, H, W) or
(N, H*W*C), so other projects' models can be scored on the same footing.
Real sets and protocol: gan_zoo/evaluation/protocol.py. For 28x28x1 data
the features come from the project's MNIST classifier, otherwise from
InceptionV3 (--inception_weights, as Keras cannot download them offline).

Writes the JSON to <workdir>/evaluation.json (next to the export), or
<samples>.evaluation.json, or --output, and prints it as the last line.
"""

from __future__ import annotations

import json
import os

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("export", None, "An export directory written by train.py.")
flags.DEFINE_string("samples", None, "An .npy file of images to score instead of an export.")
flags.DEFINE_string(
    "metrics",
    "parzen,fid,kid,is,coverage",
    "Comma-separated: parzen, fid, kid, is, coverage, memorization (of samples: the "
    "distance to the nearest training image, against held-out real images'); error "
    "(the test error of an export's classify or cluster signature).",
)
flags.DEFINE_string(
    "dataset", None, "Real data to compare with (default: the export's, else mnist)."
)
flags.DEFINE_string("data_dir", None, "The dataset's files (default: the export's --data_dir).")
flags.DEFINE_integer("num_samples", 10000, "Images to draw from the export.")
flags.DEFINE_integer("seed", 0, "Seed of the drawn samples.")
flags.DEFINE_integer(
    "real_train",
    10000,
    "Training images scored like the samples, the real-data ceiling (Parzen) and "
    "floor (FID, KID) beside them; it depends on the dataset only: 0 skips it.",
)
flags.DEFINE_string(
    "features", None, "Feature extractor: mnist_classifier (default for 28x28x1) or inception."
)
flags.DEFINE_string("inception_weights", None, "Keras InceptionV3 weights file (with top).")
flags.DEFINE_string("output", None, "JSON path (default: next to the export or samples).")
FLAGS = flags.FLAGS


def read_samples(path: str):
    """The image array in the .npy file ``path``, or UserError."""
    import numpy as np

    from gan_zoo.errors import UserError

    if not os.path.isfile(path):
        raise UserError(f"--samples={path} is not a file.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        loaded = None
    # numpy's own message suggests allow_pickle, which would let the file run
    # code; say what the file should be instead.
    if not isinstance(loaded, np.ndarray):
        if hasattr(loaded, "close"):  # an .npz archive
            loaded.close()
        raise UserError(
            f"--samples={path} is not a .npy array of images; write one with numpy.save from "
            "uint8 (0-255) or float ([0, 1]) images shaped (N, H, W, C), (N, H, W) or "
            "(N, H*W*C)."
        )
    return loaded


def score_samples(export, loaded, source, metrics, memorize=False) -> dict:
    """protocol.evaluate of the export's samples (or the loaded array) against
    the source's real sets, and their memorization, with a progress bar over
    the stages."""
    import keras

    from gan_zoo.evaluation import nearest, protocol

    if loaded is not None:  # checked before the progress bar, which an error would cut
        samples = protocol.check_images(loaded, source.image_shape)
    extractor = metrics and protocol.extractor_for(
        metrics,
        FLAGS.features or protocol.default_extractor(source.image_shape),
        FLAGS.inception_weights,
    )

    parts = ["samples"] + ["real_train"] * bool(FLAGS.real_train)
    stages = ["real sets", "samples"] + [f"parzen of {n}" for n in parts if "parzen" in metrics]
    if metrics and protocol.needs_features(metrics):
        stages += ["features of the test set"] + [f"features of {n}" for n in parts]
    stages += ["memorization"] * memorize
    bar = keras.utils.Progbar(len(stages), stateful_metrics=["stage"])
    done = []

    def progress(stage):
        done.append(stage)
        bar.update(len(done), [("stage", len(done))])

    real = protocol.real_sets(source, FLAGS.real_train)
    progress("real sets")
    if export is not None:
        samples = protocol.draw_in_chunks(
            lambda n, i: export.sample(n, FLAGS.seed + i)[0], FLAGS.num_samples
        )
        samples = protocol.check_images(
            protocol.at_data_size(samples, source.image_shape), source.image_shape
        )
    progress("samples")
    result = {"num_samples": len(samples), "samples": {}}
    if metrics:
        result = protocol.evaluate(samples, real, metrics, extractor, progress)
        result["features"] = None if extractor is None else extractor.name
    if memorize:
        space = nearest.comparison_space(export.metadata["config"] if export else {})
        scores = memorization(samples, source, real, space)
        for part, value in scores.items():
            result.setdefault(part, {})["memorization"] = value
        progress("memorization")
    return result


def memorization(samples, source, real, space) -> dict:
    """nearest.memorization of the samples against the training split, with
    as many test images as samples as the held-out draws.

    The real training images of the ceiling row are the split's first ones,
    so against the whole split each would find itself at distance 0 and
    score as a perfect copier. They are scored against the *rest* of the
    split instead, and so are the held-out images they are compared with:
    then the row says what fresh draws from the data look like (ratio about
    1, few closer than the held-out 1 %), the reference a model's row needs.
    The samples are scored against the whole split, since a model may copy
    any of it.
    """
    from gan_zoo.evaluation import nearest

    return nearest.memorization(
        samples,
        real["test"][: len(samples)],
        lambda: nearest.training_batches(source, "train", 500),
        real.get("train"),
        space,
    )


def check_settings() -> list[str]:
    """Validates the flags; returns the metrics asked for."""
    from gan_zoo import registry, settings
    from gan_zoo.errors import UserError
    from gan_zoo.evaluation import protocol

    metrics = protocol.check_metrics(FLAGS.metrics, extra=("error", "memorization"))
    settings.check_positive("num_samples", FLAGS.num_samples)
    settings.check_non_negative("real_train", FLAGS.real_train, " (0 skips it)")
    if bool(FLAGS.export) == bool(FLAGS.samples):
        raise UserError("pass exactly one of --export=<workdir>/export and --samples=<file.npy>.")
    if "error" in metrics and not FLAGS.export:
        raise UserError("--metrics=error scores an export's classifier; pass --export.")
    if FLAGS.dataset:
        registry.dataset_loader(FLAGS.dataset)
    return metrics


def main(argv):
    del argv
    from gan_zoo import exported, registry, storage
    from gan_zoo.evaluation import classification

    metrics = check_settings()
    want_error, memorize = "error" in metrics, "memorization" in metrics
    asked, metrics = metrics, [m for m in metrics if m not in ("error", "memorization")]
    export = exported.load_export(FLAGS.export) if FLAGS.export else None
    loaded = None if export is not None else read_samples(FLAGS.samples)
    dataset = FLAGS.dataset or (export.metadata["config"].get("dataset") if export else "mnist")
    # The paper splits hold out MNIST digits 50,000-60,000 (CIFAR-10 images
    # 40,000-50,000): the Parzen validation set.
    fixed = dict(paper_split=dataset in ("mnist", "cifar10"), max_examples=0)
    if export is not None:
        cfg = export.data_config(dataset, FLAGS.data_dir, **fixed)
    else:
        cfg = registry.resolve({"dataset": dataset, "data_dir": FLAGS.data_dir or "", **fixed}).run
    source = registry.dataset_loader(cfg.dataset)(cfg)
    result = {
        "dataset": cfg.dataset,
        "metrics": asked,
        "source": FLAGS.export or FLAGS.samples,
    }
    if want_error:  # first: it is quick, and fails at once on an export without a classifier
        result["error"] = classification.export_error(export, source)
    if metrics or memorize:
        result.update(score_samples(export, loaded, source, metrics, memorize))

    out = FLAGS.output or (
        os.path.join(os.path.dirname(export.directory), "evaluation.json")
        if export is not None
        else os.path.splitext(FLAGS.samples)[0] + ".evaluation.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    storage.write_text(out, json.dumps(result, indent=2, sort_keys=True))
    print(f"Wrote {out}")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    cli.run(main, check=check_settings)

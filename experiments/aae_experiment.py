"""What the AAE experiments here share: their flags, the AAE appendix's
optimisation as they read it, and the model of a flagfile with one lever
changed, on MNIST's paper split (so that they measure on the validation
digits and never read the test digits)."""

import os

import numpy as np
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def define_flags(epochs: int, workdir: str) -> None:
    flags.DEFINE_integer("epochs", epochs, "Epochs to train and measure.")
    flags.DEFINE_integer(
        "steps_per_epoch", 0, "Cap on steps per epoch (0 = a full pass), for a smoke run."
    )
    flags.DEFINE_string("data_dir", "../shared/data/mnist", "MNIST's four IDX files.")
    flags.DEFINE_string("workdir", workdir, "Scratch run directory.")


def appendix_optimizers(labelled: bool) -> dict:
    """The appendix's plain SGD, which gan_zoo's config (Adam's per-phase rates)
    does not express: reconstruction lr 0.01 with momentum 0.9, both
    adversarial networks lr 0.1 with momentum 0.1, and where there is one,
    the labelled cost lr 0.1 with momentum 0.9."""
    import keras

    sgd = keras.optimizers.SGD
    optimizers = dict(
        ae_optimizer=sgd(0.01, momentum=0.9),
        d_optimizer=sgd(0.1, momentum=0.1),
        g_optimizer=sgd(0.1, momentum=0.1),
    )
    if labelled:
        optimizers["c_optimizer"] = sgd(0.1, momentum=0.9)
    return optimizers


def prepare(flagfile: str, variant: str, overrides: dict):
    """(config, source, model, training stream, steps per epoch) of
    ``flags/<flagfile>`` with ``overrides``, under the flags above; the
    variant ``appendix_sgd`` trains with :func:`appendix_optimizers`."""
    from gan_zoo import execution, registry, training

    FLAGS = flags.FLAGS
    with open(os.path.join(ROOT, "flags", flagfile)) as f:
        settings = registry.parse_flagfile(f.read())
    settings.update(
        overrides,
        data_dir=FLAGS.data_dir,
        paper_split=True,
        epochs=FLAGS.epochs,
        steps_per_epoch=FLAGS.steps_per_epoch,
        workdir=os.path.join(FLAGS.workdir, variant),
    )
    cfg = registry.resolve(settings)
    source, model, make_dataset, steps, *_ = training._prepare(cfg, resume_from=None)
    if variant == "appendix_sgd":  # before the first fit, in place of the flagfile's optimisers
        model.compile(**appendix_optimizers(labelled=cfg.model == "aae_semi_supervised"))
        model = execution.configure(model, cfg)
    return cfg, source, model, make_dataset(0), steps


def class_from_z(z, labels) -> float:
    """How much of the class a style code z holds: the accuracy of a ridge
    regression from z to the one-hot label, fitted on the first half of the
    codes and scored on the second (0.1 = none, for ten balanced classes)."""
    half = len(z) // 2
    x = np.concatenate([z, np.ones((len(z), 1))], axis=1)
    fit = x[:half]
    weights = np.linalg.solve(
        fit.T @ fit + 1e-3 * np.eye(x.shape[1]), fit.T @ np.eye(10)[labels[:half]]
    )
    return float(np.mean(np.argmax(x[half:] @ weights, axis=1) == labels[half:]))


def parse_settings(assignments: list[str]) -> dict:
    """{name: value} of ``name=value`` strings, read as a flagfile's lines are."""
    from gan_zoo import registry

    return registry.parse_flagfile("\n".join(f"--{a}" for a in assignments), source="--set")

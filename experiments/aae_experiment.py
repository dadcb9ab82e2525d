"""What the AAE experiments here share: their flags, the AAE appendix's
optimisation as they read it, and the model of a flagfile with one lever
changed, on MNIST's paper split (so that they measure on the validation
digits and never read the test digits)."""

import os

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
    from gan_zoo import config, execution, training

    FLAGS = flags.FLAGS
    with open(os.path.join(ROOT, "flags", flagfile)) as f:
        settings = config.parse_flagfile(f.read())
    settings.update(
        overrides,
        data_dir=FLAGS.data_dir,
        paper_split=True,
        epochs=FLAGS.epochs,
        steps_per_epoch=FLAGS.steps_per_epoch,
        workdir=os.path.join(FLAGS.workdir, variant),
    )
    cfg = config.resolve(settings)
    source, model, make_dataset, steps, *_ = training._prepare(cfg, resume_from=None)
    if variant == "appendix_sgd":  # before the first fit, in place of the flagfile's optimisers
        model.compile(**appendix_optimizers(labelled=cfg.model == "aae_semi_supervised"))
        model = execution.configure(model, cfg)
    return cfg, source, model, make_dataset(0), steps

"""Train a gan_zoo model.

    python train.py                                  # Goodfellow's GAN on the embedded digits
    python train.py --flagfile=flags/gan_mnist.flags # the paper's MNIST run
    python train.py --flagfile=runs/gan_digits/flags.txt   # reproduce a run

Every setting is a flag named after a field of gan_zoo.config.RunConfig (the
run's, listed by --help) or of a model family's hyperparameters (e.g.
gan_zoo.models.gan.GANHparams, listed by --helpfull under its module); flags
you do not give take the model's paper defaults.
"""

from absl import flags

from gan_zoo import cli, config

_DEFINE = {
    "str": flags.DEFINE_string,
    "int": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "bool": flags.DEFINE_bool,
}

# The flags come from the models' declarations, and the models import
# TensorFlow: keep its start-up notes off the user's screen.
cli.import_tensorflow_quietly()
from gan_zoo import registry  # noqa: E402

# The run's settings are this module's flags (--help); each model family's
# hyperparameters are flags of the module that declares them (--helpfull
# lists them under that module's name).
for _name, (_field, _owner) in registry.declarations().items():
    _DEFINE[_field.type](
        _name,
        None,
        f"{_field.metadata['help']} [default: the model's paper value, else {_field.default!r}]",
        module_name=None if _owner is config.RunConfig else _owner.__module__,
    )
flags.DEFINE_bool(
    "export_only", False, "Write <workdir>/export from the newest checkpoint and exit; no training."
)
flags.DEFINE_bool(
    "overwrite",
    False,
    "Delete the outputs of a previous run in --workdir and start afresh, instead of "
    "resuming it (a run with other settings is refused without this).",
)
FLAGS = flags.FLAGS


def resolved_config():
    """The run's Config from the flags given (validated, nothing touched)."""
    given = {name: FLAGS[name].value for name in registry.field_names() if FLAGS[name].present}
    return registry.resolve(given)


def check() -> str:
    """--check: the resolved settings, as flags.txt would hold them."""
    return resolved_config().to_flagfile()


def main(argv):
    del argv
    from gan_zoo import training  # imports TensorFlow, after cli has quieted it

    cfg = resolved_config()
    if FLAGS.export_only:
        print(f"Exported to {training.export_only(cfg)}")
    else:
        training.run(cfg, overwrite=FLAGS.overwrite)


if __name__ == "__main__":
    cli.run(main, check=check)

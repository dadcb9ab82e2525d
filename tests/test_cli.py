"""The command line: bad names and values give one line and a non-zero exit."""

import subprocess

import numpy as np
import pytest
from conftest import run_script, run_scripts, start_script, write_idx

from gan_zoo import config, registry
from gan_zoo.errors import UserError


def test_registry_lists_choices_for_unknown_names():
    assert registry.model_class("gan").__name__ == "GAN"
    with pytest.raises(UserError, match="gan"):
        registry.model_class("nope")
    with pytest.raises(UserError, match="digits, image_folder, lsun, mnist"):
        registry.dataset_loader("nope")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"adversarial_loss": "hinge"}, "minimax, non_saturating, wasserstein"),
        ({"batch_size": 0}, "batch_size"),
        ({"d_steps": -1}, "d_steps"),
        ({"momentum": 1.5}, "momentum"),
        ({"lr_decay": 0.5}, "lr_decay"),
        ({"lr_drop_epochs": "50,x"}, "--lr_drop_epochs='50,x' must be positive whole epochs"),
        ({"lr_drop_epochs": "0"}, "e.g. --lr_drop_epochs=100,150"),
        ({"lr_drop_factor": 0.0}, "--lr_drop_factor=0.0 must be in"),
        ({"epochs": 0}, "--epochs=0 must be > 0"),
        ({"latent_dim": 0}, "--latent_dim=0 must be > 0"),
        ({"learning_rate": -0.1}, "--learning_rate=-0.1 must be > 0"),
        ({"d_learning_rate": -1.0}, "--d_learning_rate=-1.0 must be >= 0"),
        ({"model": "dcgan", "image_size": 48}, "--image_size=48 is not supported by dcgan"),
        ({"model": "wgan_gp", "d_norm": "batch"}, "add --d_norm=none"),
        ({"model": "aae", "prior": "cauchy"}, "unknown prior 'cauchy'"),
        # 2-D pictures and priors with a 10-D code make no sense.
        ({"model": "aae", "prior": "mixture_gaussian", "latent_dim": 10}, "--latent_dim=2"),
        ({"model": "aae_clustering", "num_clusters": 1}, "--num_clusters=1 must be >= 2"),
        ({"model": "aae_semi_supervised", "num_labels": -5}, "--num_labels=-5 must be >= 0"),
        ({"model": "dae", "corruption": "blur"}, "--corruption='blur' is not one of"),
        ({"eval_every_epochs": 1, "eval_metrics": "fid,lpips"}, "choose from parzen, fid"),
        ({"checkpoint_every_steps": -1}, "--checkpoint_every_steps=-1 must be >= 0"),
        ({"model": "ae", "architecture": "transformer"}, "--architecture='transformer' is not"),
        # A setting of another model, even a valid one, is named with its models.
        (
            {"model": "aae", "ngf": 32},
            "--model=aae has no setting --ngf .a setting of dcgan, wgan_gp",
        ),
        ({"strategy": "parameter_server"}, "--strategy='parameter_server' is not one of"),
        ({"gan_update": "async"}, "--gan_update='async' is not one of"),
        ({"keep_best": "kid", "eval_every_epochs": 1}, "--keep_best='kid' is not one of"),
        ({"keep_best": "parzen", "eval_every_epochs": 1}, "add --eval_every_epochs=1 and parzen"),
        ({"keep_best": "fid"}, "needs the periodic evaluation"),
        ({"seed": -1}, "--seed=-1 is out of range; pick a seed from 0 to 4294967295"),
        ({"seed": 2**32}, "--seed=4294967296 is out of range"),
    ],
)
def test_bad_values_are_user_errors(overrides, message):
    with pytest.raises(UserError, match=message):
        registry.resolve(overrides)


def test_the_largest_accepted_seed_is_the_largest_numpy_and_keras_take():
    import keras

    assert registry.resolve({"seed": config.MAX_SEED}).seed == 2**32 - 1
    keras.utils.set_random_seed(config.MAX_SEED)
    with pytest.raises(ValueError):
        keras.utils.set_random_seed(config.MAX_SEED + 1)


def test_flagfile_with_unknown_or_untyped_settings_is_refused():
    text = "# a comment\n\n--model=gan\n--paper_split\n--nodeterministic\n--epochs=3\n"
    assert registry.parse_flagfile(text) == {
        "model": "gan",
        "paper_split": True,
        "deterministic": False,
        "epochs": 3,
    }
    with pytest.raises(
        UserError,
        match=r"^flags/x.flags has unknown setting\(s\) --modle=dcgan, "
        r"--nopaper; fix their names",
    ):
        registry.parse_flagfile("--modle=dcgan\n--nopaper\n--epochs=3", "flags/x.flags")
    with pytest.raises(
        UserError,
        match="without a valid value: --epochs=abc, --epochs, "
        "--paper_split=maybe; write them as --name=value",
    ):
        registry.parse_flagfile("--epochs=abc\n--epochs\n--paper_split=maybe")


def test_paper_defaults_fill_unset_flags_and_flags_override_them():
    cfg = registry.resolve({"epochs": 3})
    assert (
        cfg.batch_size,
        cfg.learning_rate,
        cfg.lr_decay,
        cfg.momentum,
        cfg.final_momentum,
        cfg.momentum_epochs,
    ) == (100, 0.1, 1.000004, 0.5, 0.7, 250)
    assert cfg.epochs == 3
    assert cfg.workdir == "runs/gan_digits"


# Arguments (split on spaces, {root} = the fixture's directory) -> a part of
# the one error line. Each run's own --workdir comes first, so a --workdir
# here overrides it.
BAD_TRAIN_ARGS = {
    "--model=nope": "choose one of: " + ", ".join(registry.model_names()),
    "--dataset=nope": "celeb_a, cifar10, digits, image_folder, lsun, mnist",
    "--adversarial_loss=foo": "minimax, non_saturating, wasserstein",
    "--batch_size=-4": "batch_size",
    "stray": "every setting is a --flag",
    "--steps_per_execution=-2": "--steps_per_execution=-2 must be >= 0",
    "--workdir=/proc/x": "cannot create --workdir=/proc/x (",
    "--workdir={root}/a_file": "a_file is a file, not a directory; choose another --workdir.",
    "--seed=-1": "--seed=-1 is out of range; pick a seed from 0 to 4294967295",
    "--seed=4294967296": "--seed=4294967296 is out of range",
    "--modle=dcgan": "unknown flag --modle; did you mean --model? --helpfull lists every flag.",
    "--epochs=abc": "--epochs=abc: invalid literal for int() with base 10: 'abc'; "
    "--epochs takes an integer.",
    "--paper_split=maybe": "--paper_split=maybe: not a boolean; --paper_split takes true or false.",
    "--flagfile={root}/missing.flags": "Unable to open flagfile",
    # Refused once the data is loaded, after the workdir would have been made.
    "--batch_size=100000": "fewer than one step needs (100000); lower --batch_size",
    "--dataset=mnist --data_dir={root}/partial_mnist": "has some MNIST IDX files but lacks",
}


@pytest.fixture(scope="module")
def bad_train_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "a_file").write_text("not a directory")
    (root / "partial_mnist").mkdir()
    write_idx(root / "partial_mnist" / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    commands = {
        arg: ["train.py", f"--workdir={root}/{i}", *arg.format(root=root).split()]
        for i, arg in enumerate(BAD_TRAIN_ARGS)
    }
    # One in a real new interpreter: only a real start-up shows whether
    # TensorFlow's C++ start-up noise reaches stderr (the others are forks of a
    # process that imported TensorFlow already, conftest.start_script).
    fresh = "--batch_size=100000"
    process = start_script(*commands.pop(fresh), fresh=True)
    results = run_scripts(commands)
    out, err = process.communicate(timeout=300)
    results[fresh] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return root, results


@pytest.mark.parametrize("arg", BAD_TRAIN_ARGS)
def test_train_py_bad_input_is_one_line_without_traceback(arg, bad_train_runs):
    root, results = bad_train_runs
    result = results[arg]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and BAD_TRAIN_ARGS[arg] in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (root / str(list(BAD_TRAIN_ARGS).index(arg))).exists()
    assert sorted(p.name for p in root.iterdir()) == ["a_file", "partial_mnist"]


# Every entry point parses its flags through cli.run.
ENTRY_POINTS = [
    "train.py",
    "-m gan_zoo.evaluate",
    "-m gan_zoo.sample",
    "-m gan_zoo.walk",
    "-m gan_zoo.arithmetic",
    "-m gan_zoo.probe",
    "-m gan_zoo.train_classifier",
    "-m gan_zoo.prepare_lsun",
    "-m gan_zoo.toy1d",
    "-m gan_zoo.curves",
    "-m gan_zoo.onnx_export",
    "-m gan_zoo.results",
    "-m gan_zoo.latent_figure",
]


@pytest.fixture(scope="module")
def misspelt_flag_runs():
    return run_scripts({entry: [*entry.split(), "--verbosityy=1"] for entry in ENTRY_POINTS})


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_names_an_unknown_flag_in_one_line(entry, misspelt_flag_runs):
    result = misspelt_flag_runs[entry]
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: unknown flag --verbosityy; did you mean --verbosity? --helpfull lists every flag."
    ]


def test_every_tool_is_an_installed_command_too():
    import importlib.metadata
    import os
    import sys

    scripts = {
        entry.name: entry.value
        for entry in importlib.metadata.entry_points(group="console_scripts")
        if entry.value.startswith("gan_zoo.")
    }
    tools = [entry.split()[1] for entry in ENTRY_POINTS if entry.startswith("-m ")]
    assert scripts == {
        "gan-zoo-" + tool.removeprefix("gan_zoo.").replace("_", "-"): "gan_zoo.cli:console"
        for tool in tools
    }
    # The installed command parses its flags as python -m does.
    command = os.path.join(os.path.dirname(sys.executable), "gan-zoo-sample")
    result = subprocess.run([command, "--verbosityy=1"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("error: unknown flag --verbosityy")


def test_curves_tool_refuses_a_directory_without_logs(tmp_path):
    result = run_script("-m", "gan_zoo.curves", f"--runs=a={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path} has no TensorBoard logs (logs/train); is it a run directory?"
    ]


def test_curves_read_validation_metrics_back_under_their_val_name(tmp_path):
    # Keras' TensorBoard callback files val_<name> in logs/validation as
    # epoch_<name>; the curves tool must not confuse it with a training metric.
    import tensorflow as tf

    from gan_zoo import curves

    for part, values in (
        ("train", {"error": 0.5, "recon_loss": 0.2}),
        ("validation", {"error": 0.3}),
    ):
        with tf.summary.create_file_writer(str(tmp_path / "logs" / part)).as_default():
            for epoch in range(2):
                for name, value in values.items():
                    tf.summary.scalar(f"epoch_{name}", value + epoch, step=epoch)
    logged = curves.epoch_scalars(str(tmp_path))
    expected = {
        "error": {1: 0.5, 2: 1.5},
        "recon_loss": {1: 0.2, 2: 1.2},
        "val_error": {1: 0.3, 2: 1.3},
    }
    assert {name: set(series) for name, series in logged.items()} == {
        name: set(series) for name, series in expected.items()
    }
    for name, series in expected.items():
        assert logged[name] == pytest.approx(series)


def test_sample_py_rejects_a_directory_that_is_not_an_export(tmp_path):
    result = run_script("-m", "gan_zoo.sample", f"--export={tmp_path}")
    assert result.returncode == 2
    assert "not a SavedModel export" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_declares_its_optional_hooks_and_a_misspelt_one_fails_at_once():
    from gan_zoo.models.ae import AE
    from gan_zoo.models.base import ZooModel

    for name in registry.model_names():
        cls = registry.model_class(name)
        for hook in cls.capabilities:
            assert callable(getattr(cls, hook))
    with pytest.raises(TypeError, match=r"declared without a method \['held_out_metrics'\]"):

        class Misspelt(AE):
            capabilities = AE.capabilities | {"held_out_metrics"}

            def held_out_metric(self, images, labels):  # the hook's name, misspelt
                return {}

    with pytest.raises(TypeError, match=r"methods not declared \['held_out_metrics'\]"):

        class Undeclared(ZooModel):
            def held_out_metrics(self, images, labels):
                return {}

    with pytest.raises(TypeError, match=r"unknown \['classify'\]"):

        class Unknown(ZooModel):
            capabilities = frozenset({"classify"})

    with pytest.raises(ValueError, match="no optional hook"):
        AE.can("picture")


def test_help_lists_the_run_settings_and_helpfull_each_familys_under_its_module():
    import re

    results = run_scripts({"help": ["train.py", "--help"], "full": ["train.py", "--helpfull"]})
    short, full = results["help"].stdout, results["full"].stdout
    assert "--batch_size" in short and "--eval_metrics" in short
    for hparam in ("--ngf", "--hidden_units", "--latent_dim", "--adversarial_loss"):
        assert hparam not in short
    sections = dict(re.findall(r"^(gan_zoo\.models\.\w+):\n((?:  .*\n|    .*\n)+)", full, re.M))
    assert "--ngf" in sections["gan_zoo.models.dcgan"]
    assert "--adversarial_loss" in sections["gan_zoo.models.gan"]
    assert "--latent_dim" in sections["gan_zoo.models.base"]
    assert "--num_clusters" in sections["gan_zoo.models.aae_clustering"]


def test_a_runs_flags_hold_its_settings_and_its_models_only(tmp_path):
    gan, aae = (registry.resolve({"model": m, "workdir": str(tmp_path)}) for m in ("gan", "aae"))
    assert "--adversarial_loss=non_saturating" in gan.to_flagfile()
    assert "--ngf" not in gan.to_flagfile() and "--prior" not in gan.to_flagfile()
    assert "--prior=gaussian" in aae.to_flagfile() and "--adversarial_loss" not in aae.to_flagfile()
    for cfg in (gan, aae):
        assert registry.resolve(registry.parse_flagfile(cfg.to_flagfile())) == cfg

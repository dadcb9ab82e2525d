"""The command line: bad names and values give one line and a non-zero exit."""

import pytest

from conftest import run_script
from gan_zoo import config, registry
from gan_zoo.errors import UserError


def test_registry_lists_choices_for_unknown_names():
    assert registry.model_class("gan").__name__ == "GAN"
    with pytest.raises(UserError, match="gan"):
        registry.model_class("nope")
    with pytest.raises(UserError, match="digits, image_folder, lsun, mnist"):
        registry.dataset_loader("nope")


@pytest.mark.parametrize("overrides, message", [
    ({"gen_loss": "wasserstein"}, "minimax, non_saturating"),
    ({"batch_size": 0}, "batch_size"),
    ({"d_steps": -1}, "d_steps"),
    ({"momentum": 1.5}, "momentum"),
    ({"lr_decay": 0.5}, "lr_decay"),
])
def test_bad_values_are_user_errors(overrides, message):
    with pytest.raises(UserError, match=message):
        config.resolve(overrides)


def test_paper_defaults_fill_unset_flags_and_flags_override_them():
    cfg = config.resolve({"epochs": 3})
    assert (cfg.batch_size, cfg.learning_rate, cfg.lr_decay, cfg.momentum,
            cfg.final_momentum, cfg.momentum_epochs) == (100, 0.1, 1.000004, 0.5, 0.7, 250)
    assert cfg.epochs == 3
    assert cfg.workdir == "runs/gan_digits"


@pytest.mark.parametrize("args, fragment", [
    (["--model=nope"], "choose one of: aae, aae_clustering, aae_semi_supervised, "
                       "aae_supervised, ae, cgan, cvae, dae, dcgan, gan, vae"),
    (["--dataset=nope"], "celeb_a, cifar10, digits, image_folder, lsun, mnist"),
    (["--gen_loss=foo"], "minimax, non_saturating"),
    (["--batch_size=-4"], "batch_size"),
    (["stray"], "every setting is a --flag"),
])
def test_train_py_bad_input_is_one_line_without_traceback(args, fragment, tmp_path):
    result = run_script("train.py", f"--workdir={tmp_path}/w", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "w").exists()


def test_sample_py_rejects_a_directory_that_is_not_an_export(tmp_path):
    result = run_script("sample.py", f"--export={tmp_path}")
    assert result.returncode == 2
    assert "not a SavedModel export" in result.stderr
    assert "Traceback" not in result.stderr

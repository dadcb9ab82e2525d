"""gan_zoo.latent_figure: several exports' 2-D codes of the test digits, side by side."""

import numpy as np
import tensorflow as tf
from conftest import run_scripts, tiny_config
from PIL import Image

from gan_zoo import exported, latent_figure, registry, training
from gan_zoo.datasets import digits


def _export(tmp_path, name, **overrides):
    cfg = tiny_config(
        tmp_path / name, model=name, latent_dim=2, hidden_units=8, hidden_layers=1, **overrides
    )
    return training.export_model(cfg, registry.model_class(name).from_flags(cfg, digits.load(), 2))


def test_the_figure_puts_each_exports_test_codes_side_by_side(tmp_path):
    # An AAE over the mixture prior, and a CVAE, whose encode also takes the label.
    aae = _export(tmp_path, "aae", prior="mixture_gaussian")
    cvae = _export(tmp_path, "cvae")
    images, labels = digits.load().arrays("test")
    codes, read = latent_figure.encoded(exported.load_export(aae), digits.load(), "z", 30)
    np.testing.assert_array_equal(read, labels[:30])
    expected = tf.saved_model.load(aae).signatures["encode"](
        images=tf.constant(images[:30].astype(np.float32) / 255.0)
    )["z"]
    np.testing.assert_allclose(codes, expected.numpy(), atol=1e-5)

    png, wrong = tmp_path / "figure.png", tmp_path / "wrong.png"
    results = run_scripts(
        {
            "figure": ["-m", "gan_zoo.latent_figure", f"--exports={aae},{cvae}", "--num=50"]
            + [f"--out={png}"],
            "no such code": ["-m", "gan_zoo.latent_figure", f"--exports={aae}", "--num=50"]
            + ["--code=representation", f"--out={wrong}"],
            "titles": ["-m", "gan_zoo.latent_figure", f"--exports={aae},{cvae}", "--titles=a"]
            + ["--check"],
        }
    )
    assert results["figure"].returncode == 0, results["figure"].stderr
    width, height = Image.open(png).size
    assert width == 2 * height  # two square panels
    for name, message in (("no such code", "not 'representation'"), ("titles", "1 titles for 2")):
        assert results[name].returncode == 2 and message in results[name].stderr, name
        assert len(results[name].stderr.strip().splitlines()) == 1
    assert not wrong.exists()

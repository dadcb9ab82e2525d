"""Latent walks and arithmetic, the discriminator-feature SVM probe, and the
walk.py / arithmetic.py / probe.py tools on a tiny fake export."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import run_scripts
from PIL import Image

from gan_zoo import exported, latent, settings
from gan_zoo.datasets import pipeline
from gan_zoo.datasets.base import load_labelled
from gan_zoo.errors import UserError
from gan_zoo.evaluation import svm

LATENT, SIZE = 8, 32


# --- latent ---------------------------------------------------------------


def _angle(u, v):
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    return np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))


@pytest.mark.parametrize("method", latent.METHODS)
def test_interpolation_endpoints_are_the_inputs(method):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 100)).astype(np.float32)
    path = latent.interpolate(a, b, 7, method)
    assert path.shape == (7, 100) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    np.testing.assert_allclose(latent.slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(latent.slerp(a, b, 1.0), b, atol=1e-6)


def test_slerp_keeps_equal_norms_where_lerp_shrinks_them():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 100))
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    norms = np.linalg.norm(latent.interpolate(a, b, 11, "slerp"), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(a), rtol=1e-5)
    # Two random 100-d codes are nearly orthogonal: the chord's midpoint is ~0.71 of the norm.
    assert np.linalg.norm(latent.lerp(a, b, 0.5)) < 0.8 * np.linalg.norm(a)


def test_slerp_lies_in_the_plane_turns_at_constant_rate_and_lerps_the_norm():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=100), 3.0 * rng.normal(size=100)
    t = np.linspace(0, 1, 9)
    path = latent.slerp(a, b, t).astype(np.float64)
    basis = np.stack([a, b], axis=1)
    coefficients = np.linalg.lstsq(basis, path.T, rcond=None)[0]
    np.testing.assert_allclose(basis @ coefficients, path.T, atol=1e-4)
    theta = _angle(a, b)
    np.testing.assert_allclose([_angle(a, p) for p in path], t * theta, atol=1e-4)
    np.testing.assert_allclose(
        np.linalg.norm(path, axis=1), (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b), rtol=1e-5
    )


@pytest.mark.parametrize(
    "b_of_a",
    [lambda a: a * (1 + 1e-9), lambda a: 2.0 * a, lambda a: -a, lambda a: np.zeros_like(a)],
)
def test_slerp_of_degenerate_pairs_is_finite_and_falls_back_to_lerp(b_of_a):
    a = np.random.default_rng(3).normal(size=50)
    b = b_of_a(a)
    t = np.linspace(0, 1, 5)
    path = latent.slerp(a, b, t)
    assert np.isfinite(path).all()
    np.testing.assert_allclose(path, latent.lerp(a, b, t), atol=1e-5)


def test_walk_visits_every_anchor_in_order():
    anchors = np.random.default_rng(4).normal(size=(4, 16)).astype(np.float32)
    path = latent.walk(anchors, steps_between=3, method="slerp")
    assert path.shape == (3 * 4 + 1, 16)
    np.testing.assert_array_equal(path[::4], anchors)
    assert latent.walk(anchors, 0, "lerp").shape == (4, 16)
    with pytest.raises(ValueError, match="slerp, lerp"):
        latent.walk(anchors, 3, "cubic")
    with pytest.raises(ValueError, match="two anchors"):
        latent.walk(anchors[:1], 3)


def test_concept_arithmetic_and_perturbations():
    zs = np.arange(40, dtype=np.float32).reshape(10, 4)
    mean = latent.concept_vector(zs, [1, 3])
    np.testing.assert_array_equal(mean, zs[[1, 3]].mean(0))
    result = latent.arithmetic(zs[0], zs[1], zs[2])
    np.testing.assert_array_equal(result, zs[0] - zs[1] + zs[2])
    assert result.shape == (4,) and result.dtype == np.float32
    for distribution, bound in (("uniform", 0.25), ("gaussian", 2.0)):
        variations = latent.perturb(result, 9, 0.25, rng=0, distribution=distribution)
        assert variations.shape == (9, 4) and variations.dtype == np.float32
        np.testing.assert_array_equal(variations[0], result)
        offsets = np.abs(variations[1:] - result)
        assert 0 < offsets.max() <= bound and not np.allclose(variations[1], variations[2])
    np.testing.assert_array_equal(
        latent.perturb(result, 3, 0.25, rng=5), latent.perturb(result, 3, 0.25, rng=5)
    )
    with pytest.raises(IndexError):
        latent.concept_vector(zs, [10])
    with pytest.raises(IndexError):
        latent.concept_vector(zs, [-1])
    with pytest.raises(ValueError):
        latent.concept_vector(zs, [])


def test_labelled_grid_draws_only_in_labelled_cells():
    from gan_zoo import visualization

    images = np.full((4, 20, 20, 3), 0.5, np.float32)
    picture = visualization.labelled_grid(images, ["12", "", "", "A-B+C"], cols=2, scale=2)
    plain = visualization.image_grid(images, cols=2).repeat(2, 0).repeat(2, 1)
    assert picture.shape == plain.shape == (2 * 46, 2 * 46, 3)
    changed = np.any(picture != plain, axis=-1)
    cell = 2 * 23  # the middle of the padding between the cells, upscaled
    assert changed[:cell, :cell].any() and changed[cell:, cell:].any()
    assert not changed[:cell, cell:].any() and not changed[cell:, :cell].any()


# --- the SVM probe ---------------------------------------------------------


def test_svm_separates_a_separable_toy_set():
    rng = np.random.default_rng(0)
    centres = 6.0 * rng.normal(size=(4, 20))
    labels = rng.integers(0, 4, 800)
    # Large offset and scale: standardisation must take care of them.
    features = 100.0 + 50.0 * (centres[labels] + rng.normal(size=(800, 20)))
    fitted = svm.train_linear_svm(features[:600], labels[:600], 4, l2=1e-3)
    assert fitted.converged and fitted.relative_gradient_norm <= svm.DEFAULT_TOL
    assert fitted.weights.shape == (20, 4) and fitted.bias.shape == (4,)
    assert svm.accuracy(fitted, features[600:], labels[600:]) >= 0.99


def test_svm_is_at_chance_on_random_labels():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 30)).astype(np.float32)
    labels = rng.integers(0, 5, 2000)
    fitted = svm.train_linear_svm(features[:1000], labels[:1000], 5, l2=1e-2)
    assert svm.accuracy(fitted, features[:1000], labels[:1000]) > 0.25  # fits some noise
    assert 0.12 < svm.accuracy(fitted, features[1000:], labels[1000:]) < 0.28


def test_svm_reaches_scikit_learns_objective_and_accuracy_on_the_same_features():
    # scikit-learn's LinearSVC(loss="squared_hinge") minimises, per class,
    # 1/2 (|w|^2 + b^2) + C sum_i max(0, 1 - y_i (w.x_i + b))^2 (liblinear
    # regularises the bias too): ours times 1/l2 with C = 1 / (n l2), on the
    # same standardised features.
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(2)
    centres = 1.5 * rng.normal(size=(4, 30))
    labels = rng.integers(0, 4, 1200)
    features = 10.0 + 3.0 * (centres[labels] + rng.normal(size=(1200, 30)))
    train, test, l2 = slice(0, 800), slice(800, None), 1e-2
    mean, inv_std = svm._standardisation(features[train])
    standard = (features - mean) * inv_std
    # Run to a tight tolerance, both reach the same optimum; the probe's
    # default (1e-3, LIBLINEAR's criterion) stops within about 1 % of it.
    ours = svm.train_linear_svm(features[train], labels[train], 4, l2=l2, tol=1e-6)
    # Ours folds the standardisation into raw-feature weights: unfold it.
    w = ours.weights.astype(np.float64) / inv_std[:, None]
    theirs = LinearSVC(C=1.0 / (800 * l2), loss="squared_hinge", dual=False, tol=1e-8)
    theirs.fit(standard[train], labels[train])
    signs = 2.0 * np.eye(4)[labels[train]] - 1.0

    def objective(w, b):
        slack = np.maximum(0.0, 1.0 - signs * (standard[train] @ w + b))
        return 0.5 * l2 * (np.sum(w * w) + np.sum(b * b)) + np.sum(slack**2) / 800

    ours_objective = objective(w, ours.bias + (mean * inv_std) @ w)
    theirs_objective = objective(theirs.coef_.T, theirs.intercept_)
    assert ours_objective == pytest.approx(theirs_objective, rel=1e-6)
    ours_accuracy = svm.accuracy(ours, features[test], labels[test])
    assert ours_accuracy >= theirs.score(standard[test], labels[test]) - 0.005


def test_svm_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match="labels"):
        svm.train_linear_svm(np.zeros((4, 2)), [0, 1, 2, 3], 3)


def test_prepare_images_resizes_and_repeats_grayscale():
    gray = np.full((2, 28, 28, 1), 255, np.uint8)
    batch = svm.prepare_images(gray, (SIZE, SIZE, 3)).numpy()
    assert batch.shape == (2, SIZE, SIZE, 3)
    # As in training: the digit framed by black background, colour R = G = B.
    framed = pipeline.resize_images(np.ones((2, 28, 28, 1), np.float32), (SIZE, SIZE, 1))
    np.testing.assert_allclose(batch, np.repeat(framed.numpy(), 3, axis=-1), atol=1e-5)
    assert batch.max() == pytest.approx(1.0) and batch.min() == 0.0
    with pytest.raises(UserError, match="channels"):
        svm.prepare_images(np.zeros((1, 8, 8, 3), np.uint8), (8, 8, 1))


def test_load_labelled_reads_streaming_sources_and_needs_labels():
    import tensorflow as tf

    from gan_zoo.datasets.base import Source

    class Stream(Source):
        name, image_shape = "stream", (4, 4, 1)

        def __init__(self, num_classes):
            self.num_classes = num_classes

        def split_names(self):
            return ["train"]

        def dataset(self, split):
            images = np.arange(10 * 16, dtype=np.uint8).reshape(10, 4, 4, 1)
            return tf.data.Dataset.from_tensor_slices(
                {"image": images, "label": np.arange(10, dtype=np.int32) % 3}
            )

    images, labels = load_labelled(Stream(3), "train", limit=7)
    assert images.shape == (7, 4, 4, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 1, 2, 0, 1, 2, 0])
    with pytest.raises(UserError, match="no class labels"):
        load_labelled(Stream(0), "train")


# --- a tiny fake export ----------------------------------------------------


def _save_fake_export(directory, with_features=True):
    """A SavedModel with the export's signatures: a random linear generator,
    a trivial discriminator, and 4x4-average-pooled pixels as "features"."""
    import tensorflow as tf

    from gan_zoo import registry

    module = tf.Module()
    module.w = tf.Variable(
        np.random.default_rng(0).normal(0, 0.5, (LATENT, SIZE * SIZE * 3)).astype(np.float32)
    )
    image_spec = tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="images")

    @tf.function(input_signature=[tf.TensorSpec([None, LATENT], tf.float32, name="z")])
    def generate(z):
        return {"images": tf.reshape(tf.sigmoid(z @ module.w), [-1, SIZE, SIZE, 3])}

    @tf.function(
        input_signature=[
            tf.TensorSpec([], tf.int32, name="num"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
    )
    def sample(num, seed):
        z = tf.random.stateless_uniform(tf.stack([num, LATENT]), tf.stack([seed, 0]), -1.0, 1.0)
        return {"images": generate(z)["images"], "z": z}

    @tf.function(input_signature=[image_spec])
    def discriminate(images):
        logit = tf.reduce_mean(images, axis=[1, 2, 3])
        return {"probability": tf.sigmoid(logit), "logit": logit}

    @tf.function(input_signature=[image_spec])
    def features(images):
        pooled = tf.nn.avg_pool2d(images, 4, 4, "VALID")
        return {"features": tf.reshape(pooled, [tf.shape(images)[0], -1])}

    signatures = {"generate": generate, "sample": sample, "discriminate": discriminate}
    if with_features:
        signatures["features"] = features
    tf.saved_model.save(module, str(directory), signatures=signatures)
    cfg = registry.resolve(
        {
            "model": "dcgan",
            "dataset": "digits",
            "latent_dim": LATENT,
            "image_size": SIZE,
            "workdir": str(directory),
        }
    )
    with open(os.path.join(directory, "gan_zoo.json"), "w") as f:
        json.dump({"model": "dcgan", "config": cfg.settings(), "output_range": [-1.0, 1.0]}, f)
    return str(directory)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return {
        "dcgan": _save_fake_export(root / "dcgan"),
        "gan": _save_fake_export(root / "gan", with_features=False),
        "root": root,
    }


def test_load_export_reads_shapes_and_rejects_what_is_not_an_export(exports, tmp_path):
    model = exported.load_export(exports["dcgan"])
    assert model.latent_dim == LATENT and model.image_shape == (SIZE, SIZE, 3)
    assert model.metadata["model"] == "dcgan"
    images, z = model.sample(5, 3)
    assert images.shape == (5, SIZE, SIZE, 3) and z.shape == (5, LATENT)
    np.testing.assert_allclose(model.generate(z, batch_size=2), images, atol=1e-6)
    with pytest.raises(UserError, match="DCGAN"):
        exported.load_export(exports["gan"]).signature("features", "probe needs a DCGAN export")
    with pytest.raises(UserError, match="pass --export"):
        exported.load_export(None)
    with pytest.raises(UserError, match="not a SavedModel"):
        exported.load_export(str(tmp_path / "nowhere"))
    bare = tmp_path / "bare"
    os.makedirs(bare)
    open(bare / "saved_model.pb", "wb").close()
    with pytest.raises(UserError, match="not a gan_zoo export"):
        exported.load_export(str(bare))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        (None, "empty"),
        ("1,x", "not a comma-separated list of integers"),
        ("1.5", "integers"),
        ("3,64", "index 64 outside 0..63"),
        ("-1", "index -1 outside"),
    ],
)
def test_parse_indices_gives_one_actionable_line(text, fragment):
    with pytest.raises(UserError, match=fragment):
        exported.parse_indices("a", text, 64)


def test_parse_indices_keeps_order_and_repeats():
    assert exported.parse_indices("a", " 3, 17,3 ", 64) == [3, 17, 3]


def test_count_and_choice_checks_name_the_flag():
    with pytest.raises(UserError, match="--num_walks=0 must be > 0"):
        settings.check_positive("num_walks", 0)
    with pytest.raises(UserError, match="--method='cubic' is not one of: slerp, lerp"):
        settings.check_choice("method", "cubic", latent.METHODS)
    settings.check_positive("num", 1)
    settings.check_choice("method", "lerp", latent.METHODS)


def test_run_probe_classifies_digits_through_the_export(exports):
    from gan_zoo.datasets import digits

    source = digits.load()
    train = load_labelled(source, "train", 500)
    test = load_labelled(source, "test", 200)
    result = svm.run_probe(exports["dcgan"], *train, *test, l2=[1e-2, 1e-3])
    assert result["num_features"] == (SIZE // 4) ** 2 * 3
    assert set(result["validation_accuracy"]) == {"0.01", "0.001"}
    assert result["test_accuracy"] > 0.6 and result["train_examples"] == 500
    with pytest.raises(UserError, match="DCGAN"):
        svm.run_probe(exports["gan"], *train, *test)


# --- the command-line tools ------------------------------------------------


@pytest.fixture(scope="module")
def runs(exports):
    """Runs every tool invocation the tests below look at, all at once: each
    process spends most of its few seconds importing TensorFlow, which
    overlaps well. The checks behind the errors (flag values, non-exports, a
    GAN export given to the probe) are tested in-process above; the two
    error runs here check that a tool turns them into one line and exit
    status 2, which gan_zoo.cli does alike for every tool."""
    root, dcgan = exports["root"], exports["dcgan"]
    commands = {
        "walk": [
            "-m",
            "gan_zoo.walk",
            f"--export={dcgan}",
            "--num_walks=8",
            "--steps=10",
            f"--out={root}/w/walk.png",
        ],
        "list": [
            "-m",
            "gan_zoo.arithmetic",
            f"--export={dcgan}",
            "--seed=2",
            "--num=16",
            "--list",
            f"--out={root}/numbered.png",
        ],
        "arith": [
            "-m",
            "gan_zoo.arithmetic",
            f"--export={dcgan}",
            "--seed=2",
            "--num=16",
            "--a=3,7,9",
            "--b=1",
            "--c=0,2",
            "--variations=8",
            f"--out={root}/arith.png",
        ],
        "probe": [
            "-m",
            "gan_zoo.probe",
            f"--export={dcgan}",
            "--dataset=digits",
            "--max_train=400",
            "--max_test=100",
            f"--out={root}/probe.json",
        ],
        "bad_method": ["-m", "gan_zoo.walk", f"--export={dcgan}", "--method=cubic"],
        "bad_index": [
            "-m",
            "gan_zoo.arithmetic",
            f"--export={dcgan}",
            "--num=16",
            "--a=3,16",
            "--b=1",
            "--c=2",
        ],
    }
    return run_scripts(commands)


def _ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_walk_py_writes_a_row_per_walk_and_a_gif(runs, exports):
    out = _ok(runs["walk"])
    png, gif = exports["root"] / "w" / "walk.png", exports["root"] / "w" / "walk.gif"
    assert str(png) in out and str(gif) in out
    cell = SIZE + 2
    assert Image.open(png).size == (2 * (10 * cell + 2), 2 * (8 * cell + 2))
    animation = Image.open(gif)
    assert animation.size == (2 * (3 * cell + 2), 2 * (3 * cell + 2))  # 8 walks tiled 3x3
    assert animation.n_frames == 10 + 8  # forth and back without repeating the ends


def test_arithmetic_py_lists_and_lays_out_concepts_and_result(runs, exports):
    assert "numbered row by row" in _ok(runs["list"])
    cell = SIZE + 2
    assert Image.open(exports["root"] / "numbered.png").size == (2 * (4 * cell + 2),) * 2
    out = _ok(runs["arith"])
    assert "A = mean of samples 3, 7, 9" in out
    # 4 rows; columns: max(3 exemplars, 7 variations) + the result column.
    size = Image.open(exports["root"] / "arith.png").size
    assert size == (2 * (8 * cell + 2), 2 * (4 * cell + 2))


def test_probe_py_prints_accuracy_and_json_last(runs, exports):
    out = _ok(runs["probe"])
    assert "test accuracy" in out
    result = json.loads(out.strip().splitlines()[-1])
    assert result == json.load(open(exports["root"] / "probe.json"))
    assert result["dataset"] == "digits" and result["test_examples"] == 100
    assert result["train_examples"] == 400 and result["test_accuracy"] > 0.5


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("bad_method", "--method='cubic' is not one of: slerp, lerp"),
        ("bad_index", "index 16 outside 0..15"),
    ],
)
def test_tools_give_one_line_errors(runs, name, fragment):
    result = runs[name]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr

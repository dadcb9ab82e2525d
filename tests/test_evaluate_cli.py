"""evaluate.py on an export and on an .npy file gives the library's numbers."""

import json
import os

import numpy as np
import pytest
from conftest import run_script, run_scripts, tiny_config

from gan_zoo import callbacks, exported, registry, training
from gan_zoo.datasets import digits
from gan_zoo.evaluation import features, protocol


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    run = training.run(tiny_config(tmp_path_factory.mktemp("ev") / "w", export=True), verbose=0)
    return run.export_dir


# Training digits scored as the ceiling: fewer than the default 10,000 (the
# embedded set's 8,000 would be most of this file's time).
REAL_TRAIN = 1000


def _library(samples, metrics=("parzen", "fid", "coverage"), real_train=REAL_TRAIN):
    source = registry.dataset_loader("digits")(registry.resolve({"dataset": "digits"}).run)
    return protocol.evaluate(
        samples,
        protocol.real_sets(source, real_train),
        list(metrics),
        features.extractor("mnist_classifier"),
    )


def test_evaluate_export_and_npy_match_the_library(export_dir, tmp_path):
    result = run_script(
        "-m",
        "gan_zoo.evaluate",
        f"--export={export_dir}",
        "--num_samples=300",
        "--metrics=parzen,fid,coverage",
        "--dataset=digits",
        f"--real_train={REAL_TRAIN}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from_export = json.loads(result.stdout.strip().splitlines()[-1])
    written = json.load(open(os.path.join(os.path.dirname(export_dir), "evaluation.json")))
    samples = exported.load_export(export_dir).sample(300, 0)[0]
    expected = _library(samples)
    assert expected["real_train"]["parzen"]["num_samples"] == REAL_TRAIN
    for part in ("samples", "real_train"):
        assert from_export[part]["parzen"]["mean"] == pytest.approx(
            expected[part]["parzen"]["mean"], rel=1e-6
        )
        assert from_export[part]["fid"] == pytest.approx(expected[part]["fid"], rel=1e-5)
        assert from_export[part]["modes_covered"] == expected[part]["modes_covered"]
    assert written == from_export

    path = tmp_path / "samples.npy"
    np.save(path, np.round(samples[..., 0] * 255).astype(np.uint8))  # (N, 28, 28) uint8
    result = run_script(
        "-m",
        "gan_zoo.evaluate",
        f"--samples={path}",
        "--metrics=fid",
        "--dataset=digits",
        "--real_train=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from_npy = json.loads(result.stdout.strip().splitlines()[-1])
    assert json.load(open(tmp_path / "samples.evaluation.json")) == from_npy
    assert "real_train" not in from_npy
    quantised = np.round(samples * 255).astype(np.uint8).astype(np.float32) / 255
    assert from_npy["samples"]["fid"] == pytest.approx(
        _library(quantised, ["fid"], real_train=0)["samples"]["fid"], rel=1e-5
    )


# {root}: the fixture's directory, with text.npy (text) and pickled.npy (an object array).
BAD_EVALUATE_ARGS = {
    "--metrics=fid,bogus": "choose from parzen, fid, kid, is, coverage",
    "--dataset=digits": "exactly one of --export",
    "--samples=/nonexistent.npy": "is not a file",
    "--samples={root}/text.npy": "text.npy is not a .npy array of images; write one with "
    "numpy.save from uint8 (0-255) or float ([0, 1]) images shaped "
    "(N, H, W, C), (N, H, W) or (N, H*W*C).",
    "--samples={root}/pickled.npy": "pickled.npy is not a .npy array of images",
    "--samples={root}/wrong_shape.npy": "do not fit the dataset's 28x28x1",
    "--real_train=-1": "--real_train=-1 must be >= 0 (0 skips it).",
}


@pytest.fixture(scope="module")
def bad_evaluate_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_evaluate")
    (root / "text.npy").write_text("0.5, 0.25\n")
    np.save(root / "pickled.npy", np.array([{"images": 1}], dtype=object), allow_pickle=True)
    np.save(root / "wrong_shape.npy", np.zeros((3, 32, 32), np.uint8))
    return run_scripts(
        {
            arg: ["-m", "gan_zoo.evaluate", "--dataset=digits", arg.format(root=root)]
            for arg in BAD_EVALUATE_ARGS
        }
    )


@pytest.mark.parametrize("arg", BAD_EVALUATE_ARGS)
def test_evaluate_bad_input_is_one_line(arg, bad_evaluate_runs):
    result = bad_evaluate_runs[arg]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert BAD_EVALUATE_ARGS[arg] in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "allow_pickle" not in result.stderr


def test_samples_of_the_wrong_shape_or_range_are_refused(tmp_path):
    with pytest.raises(Exception, match="do not fit the dataset's 28x28x1"):
        protocol.check_images(np.zeros((5, 32, 32)), (28, 28, 1))
    with pytest.raises(Exception, match="must be in \\[0, 1\\]"):
        protocol.check_images(np.full((5, 784), 3.0), (28, 28, 1))
    flat = protocol.check_images(np.full((5, 784), 255, np.uint8), (28, 28, 1))
    assert flat.shape == (5, 28, 28, 1) and flat.max() == 1.0


def test_periodic_evaluation_of_a_32_pixel_dcgan_keeps_the_best_export(tmp_path):
    run = training.run(
        tiny_config(
            tmp_path / "w",
            model="dcgan",
            image_size=32,
            ngf=4,
            ndf=4,
            epochs=2,
            eval_every_epochs=1,
            eval_metrics="fid,coverage",
            eval_samples=200,
            eval_batch_stats=True,
            keep_best="fid",
        ),
        verbose=0,
    )
    fids = run.history["eval_fid"]
    assert len(fids) == len(run.history["eval_fid_batch_stats"]) == 2
    shares = run.history["eval_min_class_share"]
    assert all(
        low <= 0.1 <= high
        for low, high in zip(  # ten shares of 1: one is <= 1/10 <= one
            shares, run.history["eval_max_class_share"], strict=True
        )
    )
    best = json.load(open(tmp_path / "w" / "best.json"))
    assert best["epoch"] == int(np.argmin(fids)) + 1 and best["value"] == pytest.approx(min(fids))
    images, _ = exported.load_export(str(tmp_path / "w" / "best_export")).sample(2, 0)
    assert images.shape == (2, 32, 32, 1)
    # The curves tool reads the same per-epoch scores back from TensorBoard.
    from gan_zoo import curves

    logged = curves.epoch_scalars(str(tmp_path / "w"))
    np.testing.assert_allclose([logged["eval_fid"][e] for e in (1, 2)], fids, rtol=1e-5)
    curves.plot({"run": logged}, ["eval_fid", "eval_fid_batch_stats"], str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 0


def test_keep_best_exports_only_improvements_and_remembers_them_on_resume(tmp_path):
    from gan_zoo import callbacks

    written = []
    keep = callbacks.KeepBest("parzen", str(tmp_path / "best_export"), written.append)
    for epoch, value in enumerate([100.0, 120.0, 110.0, 130.0, float("nan")]):
        keep.on_epoch_end(epoch, {"eval_parzen": value})
    assert len(written) == 3 and keep.best == 130.0  # epochs 1, 2 and 4
    resumed = callbacks.KeepBest("parzen", str(tmp_path / "best_export"), written.append)
    resumed.on_epoch_end(5, {"eval_parzen": 125.0})
    assert resumed.best == 130.0 and len(written) == 3
    resumed.on_epoch_end(6, {"eval_parzen": 131.0})
    assert len(written) == 4 and json.load(open(tmp_path / "best.json"))["epoch"] == 7
    # A held-out error rate: lower is better, read from the validation split's log entry.
    (tmp_path / "e").mkdir()
    errors = callbacks.KeepBest("error", str(tmp_path / "e" / "best_export"), written.append)
    for epoch, value in enumerate([0.2, 0.1, 0.15]):
        errors.on_epoch_end(epoch, {"val_error": value, "test_error": 0.0, "eval_error": 0.0})
    assert errors.best == 0.1 and len(written) == 6


def test_periodic_scores_never_read_the_test_split():
    from gan_zoo.datasets.base import ArraySource

    def split(value, n):
        return np.full((n, 28, 28), value, np.uint8), np.zeros(n, np.int32)

    with_validation = ArraySource(
        "x",
        {"train": split(10, 3000), "validation": split(20, 2500), "test": split(30, 100)},
        num_classes=10,
    )
    sets = protocol.validation_sets(with_validation)
    assert len(sets["validation"]) == 1000 and len(sets["test"]) == 1500
    assert {round(float(v) * 255) for s in sets.values() for v in np.unique(s)} == {20}
    without = ArraySource("y", {"train": split(10, 3000), "test": split(30, 100)}, num_classes=10)
    sets = protocol.validation_sets(without)
    assert len(sets["validation"]) == len(sets["test"]) == 1000
    assert {round(float(v) * 255) for s in sets.values() for v in np.unique(s)} == {10}


def test_periodic_evaluation_logs_scores_during_training(tmp_path):
    run = training.run(
        tiny_config(
            tmp_path / "w",
            epochs=2,
            eval_every_epochs=1,
            eval_metrics="fid,coverage",
            eval_samples=300,
        ),
        verbose=0,
    )
    assert len(run.history["eval_fid"]) == 2
    # The logged scores are those of the trained model's samples, scored again here.
    metrics, source = ["fid", "coverage"], digits.load()
    again = callbacks.PeriodicEvaluation(
        1,
        300,
        protocol.validation_sets(source),
        metrics,
        protocol.extractor_for(metrics, protocol.default_extractor(source.image_shape)),
        run.config.seed,
        source.image_shape,
    )._score(run.model.preview)
    assert run.history["eval_fid"][-1] == pytest.approx(again["fid"], rel=1e-6)
    assert run.history["eval_modes_covered"][-1] == again["modes_covered"]
    summary = json.load(open(tmp_path / "w" / "summary.json"))
    assert summary["final_metrics"]["eval_fid"] == run.history["eval_fid"][-1]


def test_error_metric_scores_an_exports_classifier_on_the_test_split(export_dir, tmp_path):
    from gan_zoo import label_errors

    exports = {}
    own = {"aae_semi_supervised": {"num_labels": 20}, "aae_clustering": {"num_clusters": 4}}
    for name, settings in own.items():
        cfg = tiny_config(
            tmp_path / name,
            model=name,
            hidden_units=16,
            hidden_layers=1,
            latent_dim=2,
            **settings,
            export=True,
        )
        exports[name] = training.run(cfg, verbose=0).export_dir
    results = run_scripts(
        {
            **{
                name: ["-m", "gan_zoo.evaluate", f"--export={path}", "--metrics=error"]
                for name, path in exports.items()
            },
            "gan": ["-m", "gan_zoo.evaluate", f"--export={export_dir}", "--metrics=error"],
        }
    )
    source = digits.load()
    test_images, test_labels = source.arrays("test")
    train_images, train_labels = source.arrays("train")

    loaded = {name: exported.load_export(path).module for name, path in exports.items()}

    def categories(name, images):
        out = loaded[name].signatures["classify" if name == "aae_semi_supervised" else "cluster"](
            images=images.astype(np.float32) / 255.0
        )
        return out["y"].numpy()

    for name in exports:
        assert results[name].returncode == 0, results[name].stderr[-3000:]
        scored = json.loads(results[name].stdout.strip().splitlines()[-1])
        assert scored["metrics"] == ["error"] and "samples" not in scored
    semi = json.loads(results["aae_semi_supervised"].stdout.strip().splitlines()[-1])
    assert semi["error"]["test_error"] == pytest.approx(
        np.mean(categories("aae_semi_supervised", test_images) != test_labels)
    )
    # class_control: the first 1,000 test digits' z decoded with every label,
    # read back by the project's MNIST classifier.
    signatures = loaded["aae_semi_supervised"].signatures
    z = signatures["encode"](images=test_images[:1000].astype(np.float32) / 255.0)["z"]
    asked = np.tile(np.arange(10, dtype=np.int32), 1000)
    decoded = signatures["decode"](z=np.repeat(z.numpy(), 10, axis=0), y=asked)["images"]
    read = np.argmax(features.extractor("mnist_classifier")(decoded.numpy())[1], axis=1)
    assert semi["error"]["class_control"] == pytest.approx(np.mean(read == asked))
    semi_predicted = categories("aae_semi_supervised", test_images)
    assert semi["error"]["error_by_class"] == pytest.approx(
        label_errors.error_by_class(semi_predicted, test_labels), abs=1e-4
    )
    assert [(c["true"], c["predicted"]) for c in semi["error"]["top_confusions"]] == [
        (c["true"], c["predicted"])
        for c in label_errors.top_confusions(semi_predicted, test_labels)
    ]
    # Clusters are named on training digits (the embedded set has no
    # validation split), never on the test digits they are scored on.
    names = label_errors.cluster_labels(categories("aae_clustering", train_images), train_labels, 4)
    clusters = json.loads(results["aae_clustering"].stdout.strip().splitlines()[-1])["error"]
    assert clusters["test_cluster_error"] == pytest.approx(
        np.mean(names[categories("aae_clustering", test_images)] != test_labels)
    )
    assert clusters["clusters_used"] == int(np.sum(names >= 0))
    test_clusters = categories("aae_clustering", test_images)
    assert clusters["largest_cluster"] == pytest.approx(
        np.bincount(test_clusters).max() / len(test_clusters)
    )
    assert clusters["equal_size_floor"] == pytest.approx(
        label_errors.equal_size_floor(np.bincount(test_labels), 4)
    )
    # The breakdown scores the clusters' names, as test_cluster_error does.
    named = names[test_clusters]
    assert clusters["error_by_class"] == pytest.approx(
        label_errors.error_by_class(named, test_labels), abs=1e-4
    )
    assert sum(e * n for e, n in zip(clusters["error_by_class"], np.bincount(test_labels))) / len(
        test_labels
    ) == pytest.approx(clusters["test_cluster_error"], abs=1e-3)
    refused = results["gan"]
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "needs an export with a 'classify' or 'cluster' signature" in lines[0]
    ), refused.stderr

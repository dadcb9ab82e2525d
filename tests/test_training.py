"""End to end: a tiny run leaves logs, samples, checkpoints and a working export;
a second run resumes; flags.txt reproduces the config."""

import glob
import json
import os
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from conftest import fake_mnist_dir, run_script

from gan_zoo import training


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from conftest import tiny_config

    cfg = tiny_config(tmp_path_factory.mktemp("run") / "w", epochs=2, export=True)
    return training.run(cfg, verbose=0)


def test_run_directory_has_everything(finished_run):
    w = finished_run.config.workdir
    assert finished_run.epochs_done == 2
    assert glob.glob(f"{w}/logs/train/events.out.tfevents.*")
    assert glob.glob(f"{w}/logs/images/events.out.tfevents.*")
    assert os.path.isfile(f"{w}/samples/epoch_0001.png") and os.path.isfile(
        f"{w}/samples/epoch_0002.png"
    )
    from PIL import Image

    assert Image.open(f"{w}/samples/progress.gif").format == "GIF"
    assert os.path.isfile(f"{w}/checkpoints/checkpoint")
    assert os.path.isfile(f"{w}/export/saved_model.pb")
    assert json.load(open(f"{w}/export/gan_zoo.json"))["model"] == "gan"
    assert os.path.isfile(f"{w}/flags.txt")


def _values(workdir, run="*"):
    for path in glob.glob(f"{workdir}/logs/{run}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            yield from event.summary.value


def _tags(workdir):
    return {v.tag for v in _values(workdir)}


def test_tensorboard_hparams_hold_the_settings_flags_and_final_metrics(finished_run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    cfg = finished_run.config
    values = list(_values(cfg.workdir, run=""))
    started = [
        plugin_data_pb2.HParamsPluginData.FromString(
            v.metadata.plugin_data.content
        ).session_start_info
        for v in values
        if v.metadata.plugin_data.plugin_name == "hparams"
    ]
    assert len(started) == 1
    assert started[0].hparams["model"].string_value == "gan"
    assert started[0].hparams["batch_size"].number_value == cfg.batch_size == 8
    assert started[0].hparams["paper_split"].bool_value is cfg.paper_split
    flags = [tf.make_ndarray(v.tensor).item().decode() for v in values if v.tag == "flags"]
    assert flags == ["```\n" + cfg.to_flagfile() + "```"]
    final = {v.tag: tf.make_ndarray(v.tensor).item() for v in values if v.tag.startswith("final_")}
    assert final == pytest.approx({f"final_{k}": v[-1] for k, v in finished_run.history.items()})


def test_tensorboard_has_scalars_and_sample_images(finished_run):
    tags = _tags(finished_run.config.workdir)
    assert {"samples", "epoch_d_loss", "epoch_g_loss", "epoch_D_x", "epoch_D_G_z"} <= tags
    assert "schedule/d_momentum" in tags and "throughput/images_per_second" in tags


_RELOAD = textwrap.dedent("""
    import sys
    sys.modules["gan_zoo"] = None  # prove the export needs no gan_zoo code
    import numpy as np, tensorflow as tf
    export, inputs, out = sys.argv[1:]
    m = tf.saved_model.load(export)
    x = np.load(inputs)
    g = m.signatures["generate"](z=tf.constant(x["z"]))["images"].numpy()
    d = m.signatures["discriminate"](images=tf.constant(x["images"]))["probability"].numpy()
    s = m.signatures["sample"](num=tf.constant(5), seed=tf.constant(7, tf.int64))
    s2 = m.signatures["sample"](num=tf.constant(5), seed=tf.constant(7, tf.int64))
    np.savez(out, g=g, d=d, s=s["images"].numpy(), s2=s2["images"].numpy(), sz=s["z"].numpy())
""")


def test_export_reloads_without_gan_zoo_and_matches_keras(finished_run, tmp_path):
    model = finished_run.model
    rng = np.random.default_rng(0)
    z = rng.uniform(-1.7, 1.7, (6, 100)).astype(np.float32)
    images = rng.uniform(0, 1, (6, 28, 28, 1)).astype(np.float32)
    np.savez(tmp_path / "in.npz", z=z, images=images)
    script = tmp_path / "reload.py"
    script.write_text(_RELOAD)
    result = run_script(
        str(script),
        f"{finished_run.config.workdir}/export",
        str(tmp_path / "in.npz"),
        str(tmp_path / "out.npz"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    assert out["g"].shape == (6, 28, 28, 1) and out["d"].shape == (6,)
    np.testing.assert_allclose(out["g"], model.generator(z, training=False).numpy(), atol=1e-5)
    expected_d = tf.sigmoid(model.discriminator(images, training=False)).numpy().ravel()
    np.testing.assert_allclose(out["d"], expected_d, atol=1e-5)
    assert out["s"].shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(out["s"], out["s2"])  # same seed, same images
    np.testing.assert_allclose(
        out["s"], model.generator(out["sz"], training=False).numpy(), atol=1e-5
    )


def test_rerun_resumes_from_checkpoint(finished_run):
    cfg = finished_run.config
    steps = 2
    state = [v.numpy() for v in finished_run.model.variables]
    assert any("seed_generator_state" in v.path for v in finished_run.model.variables)
    # Same command again: restores epoch 2 and has nothing left to do.
    again = training.run(cfg, verbose=0)
    assert again.epochs_done == 2 and again.history == {}
    restored = again.model.variables
    assert len(restored) == len(state)
    for a, b in zip(state, restored, strict=True):  # weights and noise-generator states alike
        np.testing.assert_array_equal(a, b.numpy())
    assert int(again.model.g_optimizer.iterations) == 2 * steps
    # A longer run continues from there instead of starting over.
    longer = training.run(cfg.replace(epochs=3), verbose=0)
    assert (
        longer.epochs_done == 3
        and list(longer.history["d_loss"])
        and len(longer.history["d_loss"]) == 1
    )
    assert int(longer.model.g_optimizer.iterations) == 3 * steps
    assert int(longer.model.d_optimizer.iterations) == 3 * steps


def test_noexport_skips_the_export_and_export_only_writes_it_from_the_checkpoint(tmp_path):
    from conftest import tiny_config

    from gan_zoo import exported
    from gan_zoo.errors import UserError

    cfg = tiny_config(tmp_path / "w", export=False)
    run = training.run(cfg, verbose=0)
    assert run.export_dir is None and not os.path.exists(f"{cfg.workdir}/export")
    assert json.load(open(f"{cfg.workdir}/summary.json"))["export"] is None
    assert training.export_only(cfg) == os.path.abspath(f"{cfg.workdir}/export")
    # The export holds the trained weights, restored from the checkpoint.
    z = np.random.default_rng(0).normal(size=(2, cfg.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(
        exported.load_export(f"{cfg.workdir}/export").generate(z),
        run.model.generator(z, training=False).numpy(),
        atol=1e-6,
    )
    with pytest.raises(UserError, match="no checkpoint"):
        training.export_only(cfg.replace(workdir=str(tmp_path / "empty")))
    with pytest.raises(UserError, match="--noexport skips; drop one of them"):
        tiny_config(tmp_path / "x", export=False, export_onnx=True)


def test_flagfile_reproduces_the_config_and_sample_cli_uses_the_export(tmp_path):
    data = fake_mnist_dir(tmp_path / "mnist")
    first = tmp_path / "a"
    result = run_script(
        "train.py",
        "--dataset=mnist",
        f"--data_dir={data}",
        f"--workdir={first}",
        "--epochs=1",
        "--steps_per_epoch=1",
        "--batch_size=5",
        "--d_steps=2",
        "--adversarial_loss=minimax",
        "--noise=gaussian",
        "--learning_rate=0.05",
        "--num_samples=4",
        "--run_eagerly",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    second = tmp_path / "b"
    result = run_script("train.py", f"--flagfile={first}/flags.txt", f"--workdir={second}")
    assert result.returncode == 0, result.stderr[-3000:]
    a = (first / "flags.txt").read_text().splitlines()
    b = (second / "flags.txt").read_text().splitlines()
    assert [line for line in a if not line.startswith("--workdir")] == [
        line for line in b if not line.startswith("--workdir")
    ]
    assert "--d_steps=2" in a and "--adversarial_loss=minimax" in a and "--noise=gaussian" in a
    assert "--run_eagerly" in a
    out = tmp_path / "grid.png"
    result = run_script(
        "-m", "gan_zoo.sample", f"--export={second}/export", "--num=9", f"--out={out}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from PIL import Image

    assert Image.open(out).size == (2 * (3 * 30 + 2), 2 * (3 * 30 + 2))


@pytest.mark.parametrize(
    "path",
    sorted(
        glob.glob(
            os.path.join(
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags", "*.flags"
            )
        )
    ),
    ids=os.path.basename,
)
def test_every_shipped_flagfile_resolves_to_a_valid_config(path):
    from gan_zoo import registry

    given = registry.parse_flagfile(open(path).read())
    cfg = registry.resolve(given)
    assert cfg.model == given["model"] and cfg.workdir == given["workdir"]


def test_workdir_of_another_experiment_is_refused_unless_overwritten(tmp_path):
    from conftest import tiny_config

    from gan_zoo.errors import UserError

    first = training.run(tiny_config(tmp_path / "w"), verbose=0)
    (tmp_path / "w" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"--batch_size=8 \(now 4\).*--overwrite"):
        training.run(tiny_config(tmp_path / "w", batch_size=4), verbose=0)
    # Training longer, or logging differently, is a resume, not another experiment.
    longer = training.run(tiny_config(tmp_path / "w", epochs=2, log_every_steps=5), verbose=0)
    assert longer.epochs_done == 2 and first.epochs_done == 1
    fresh = training.run(tiny_config(tmp_path / "w", batch_size=4), verbose=0, overwrite=True)
    assert fresh.epochs_done == 1 and fresh.config.batch_size == 4
    assert sorted(os.listdir(tmp_path / "w" / "samples")) == ["epoch_0001.png", "latest.png"]
    assert (tmp_path / "w" / "notes.txt").read_text() == "mine"


def test_a_refused_run_leaves_no_directory_behind(tmp_path, monkeypatch, caplog):
    from conftest import tiny_config

    from gan_zoo.datasets import tfds_util
    from gan_zoo.errors import UserError

    with pytest.raises(UserError, match="fewer than one step needs"):
        training.run(tiny_config(tmp_path / "a" / "b" / "w", batch_size=100000), verbose=0)
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(tfds_util, "reachable", lambda *a, **k: False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="mnist not found in --data_dir"):
        training.run(
            tiny_config(tmp_path / "w", dataset="mnist", data_dir=str(tmp_path / "empty")),
            verbose=0,
        )
    assert not (tmp_path / "w").exists() and "Variant folder" not in caplog.text
    # A directory the user made, or a run already wrote into, stays.
    (tmp_path / "mine").mkdir()
    with pytest.raises(UserError):
        training.run(tiny_config(tmp_path / "mine", batch_size=100000), verbose=0)
    assert (tmp_path / "mine").is_dir()


def test_workdir_that_is_a_file_or_cannot_be_made_is_a_user_error(tmp_path):
    from gan_zoo.errors import UserError

    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is a file, not a directory"):
        training.make_workdir(str(tmp_path / "f"))
    with pytest.raises(UserError, match=r"cannot create --workdir=.*f/w \(Not a directory\)"):
        training.make_workdir(str(tmp_path / "f" / "w"))


def _variables(model):
    return [v.numpy().copy() for v in model.variables]


def _signal_at_step(monkeypatch, signum, step):
    """Makes training send ``signum`` to this process once ``step`` steps are
    done, as a scheduler or a user would; returns the unpatched callback."""
    from gan_zoo import callbacks

    original = callbacks.Throughput.on_train_batch_end

    def signal_then(self, batch, logs=None):
        original(self, batch, logs)
        if int(self.model.optimizer.iterations.numpy()) == step:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(callbacks.Throughput, "on_train_batch_end", signal_then)
    return original


def test_stopped_mid_epoch_and_resumed_ends_bit_identical(tmp_path, monkeypatch):
    import signal

    from conftest import tiny_config

    from gan_zoo import callbacks
    from gan_zoo.errors import Interrupted

    values = dict(
        model="aae_semi_supervised",
        hidden_units=16,
        hidden_layers=1,
        num_labels=20,
        epochs=2,
        steps_per_epoch=4,
        batch_size=8,
        steps_per_execution=2,
    )
    straight = training.run(tiny_config(tmp_path / "a", **values), verbose=0)

    # Mid-epoch 2, at the end of a 2-step call.
    original = _signal_at_step(monkeypatch, signal.SIGTERM, 6)
    with pytest.raises(Interrupted, match="SIGTERM after step 6") as stopped:
        training.run(tiny_config(tmp_path / "b", **values), verbose=0)
    assert stopped.value.signum == signal.SIGTERM
    monkeypatch.setattr(callbacks.Throughput, "on_train_batch_end", original)
    resumed = training.run(tiny_config(tmp_path / "b", **values), verbose=0)
    assert int(resumed.model.optimizer.iterations.numpy()) == 8
    for a, b in zip(_variables(straight.model), _variables(resumed.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_divergence_stops_before_anything_is_saved(tmp_path, monkeypatch):
    from conftest import tiny_config

    from gan_zoo import callbacks
    from gan_zoo.errors import UserError

    cfg = tiny_config(tmp_path / "w", epochs=1, steps_per_execution=1, export=True)
    training.run(cfg, verbose=0)
    saved = sorted(os.listdir(tmp_path / "w" / "checkpoints"))
    exported_at = os.path.getmtime(tmp_path / "w" / "export" / "saved_model.pb")

    def poisoned(self, batch, logs=None):
        logs = dict(logs or {}, d_loss=float("nan"))
        return original(self, batch, logs)

    original = callbacks.DivergenceGuard.on_train_batch_end
    monkeypatch.setattr(callbacks.DivergenceGuard, "on_train_batch_end", poisoned)
    with pytest.raises(UserError, match=r"diverged at step 3: d_loss = nan.*untouched"):
        training.run(
            tiny_config(tmp_path / "w", epochs=2, steps_per_execution=1, export=True), verbose=0
        )
    assert sorted(os.listdir(tmp_path / "w" / "checkpoints")) == saved
    assert os.path.getmtime(tmp_path / "w" / "export" / "saved_model.pb") == exported_at


def test_train_py_survives_kill_and_sigterm_and_the_same_command_resumes(tmp_path):
    import signal
    import time

    from conftest import start_script

    w = tmp_path / "w"
    command = [
        "train.py",
        f"--workdir={w}",
        "--epochs=12",
        "--steps_per_epoch=4",
        "--batch_size=10",
        "--num_samples=4",
        "--checkpoint_every_steps=2",
        "--deterministic",
        "--noexport",  # not what this test reads
    ]

    index = w / "checkpoints" / "checkpoint"

    def latest():
        return index.read_text().splitlines()[0] if index.exists() else None

    def start_and_signal(sig):
        # Signal once this process has written a checkpoint of its own: it is
        # then inside fit(), where the signal handlers are installed.
        before = latest()
        process = start_script(*command)
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None and latest() == before:
            time.sleep(0.02)
        process.send_signal(sig)
        out, err = process.communicate(timeout=600)  # a hang guard
        return process.returncode, out, err, process.pid

    code, _, _, killed = start_and_signal(signal.SIGKILL)
    assert code == -signal.SIGKILL
    code, out, err, _ = start_and_signal(signal.SIGTERM)
    assert "Resuming from" in out
    # The killed run could not release the workdir's lock; the kernel did.
    assert f"Taking over the lock on {w} from a run that is no longer running (pid {killed}" in err
    assert code == 128 + signal.SIGTERM, err[-2000:]
    assert "Stopped by SIGTERM after step" in err and "Traceback" not in err
    finished = run_script(*command)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "Resuming from" in finished.stdout
    assert json.load(open(w / "summary.json"))["epochs_done"] == 12


def test_strategy_flag_trains_under_a_mirrored_strategy(tmp_path):
    from conftest import tiny_config

    run = training.run(
        tiny_config(tmp_path / "w", strategy="mirrored", run_eagerly=False), verbose=0
    )
    assert run.epochs_done == 1  # a non-finite loss would have raised
    assert isinstance(run.model.distribute_strategy, tf.distribute.MirroredStrategy)


def test_ctrl_c_checkpoints_the_step_and_says_so(tmp_path, monkeypatch):
    import signal

    from conftest import tiny_config

    from gan_zoo.errors import Interrupted

    _signal_at_step(monkeypatch, signal.SIGINT, 2)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a background job
    with pytest.raises(Interrupted, match="SIGINT after step 2") as stopped:
        training.run(
            tiny_config(tmp_path / "w", epochs=2, steps_per_epoch=3, steps_per_execution=1),
            verbose=0,
        )
    assert stopped.value.signum == signal.SIGINT
    assert tf.train.latest_checkpoint(str(tmp_path / "w" / "checkpoints")).endswith("ckpt-2")
    # Keras still ends the cut-short epoch; none of its epoch-end work runs.
    assert not (tmp_path / "w" / "samples").exists()
    tags = _tags(tmp_path / "w")
    assert "batch_d_loss" in tags and not [t for t in tags if t.startswith("epoch_")]
    # The handlers are put back once training stops.
    assert signal.getsignal(signal.SIGINT) is before


def test_every_epoch_reaches_tensorboard_whatever_log_every_steps(tmp_path):
    import tensorflow as tf
    from conftest import tiny_config

    from gan_zoo import curves

    # 2 steps per epoch, batch scalars every 7: Keras' record_if once dropped
    # every epoch summary (and the sample grids) of such a run.
    training.run(tiny_config(tmp_path / "w", epochs=2, log_every_steps=7), verbose=0)
    scalars = curves.epoch_scalars(str(tmp_path / "w"))
    assert sorted(scalars["d_loss"]) == [1, 2] and sorted(scalars["learning_rate"]) == [1, 2]
    steps = []
    for path in glob.glob(str(tmp_path / "w" / "logs" / "images" / "events.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            steps += [event.step for value in event.summary.value if value.tag == "samples"]
    assert sorted(steps) == [1, 2]


def test_a_finished_run_goes_on_with_its_learning_rates_dropped(tmp_path):
    from conftest import tiny_config

    cfg = tiny_config(tmp_path / "w", epochs=2)
    training.run(cfg, verbose=0)
    later = training.run(cfg.replace(epochs=3, lr_drop_epochs="2", lr_drop_factor=0.1), verbose=0)
    assert later.epochs_done == 3 and len(later.history["d_loss"]) == 1
    model = later.model
    assert int(model.g_optimizer.iterations) == 3 * cfg.steps_per_epoch
    for opt in (model.g_optimizer, model.d_optimizer):
        assert float(opt.learning_rate) == pytest.approx(
            0.1 * cfg.learning_rate / cfg.lr_decay ** int(opt.iterations), rel=1e-4
        )

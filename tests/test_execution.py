"""--mixed_precision, --jit_compile and --steps_per_execution."""

import contextlib
import glob
import inspect
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from gan_zoo import config, execution, optimizers, registry, training
from gan_zoo.datasets import digits


def _layer_dtypes(network):
    return {layer.name: layer.compute_dtype for layer in network.layers if layer.weights}


def test_mixed_bfloat16_computes_hidden_layers_in_bfloat16_and_exports_float32(tmp_path):
    cfg = tiny_config(
        tmp_path,
        model="dcgan",
        image_size=32,
        ngf=8,
        ndf=8,
        mixed_precision="mixed_bfloat16",
        export=True,
    )
    before = [v.numpy() for v in training._prepare(cfg)[1].generator.trainable_variables]
    run = training.run(cfg, verbose=0)
    dtypes = _layer_dtypes(run.model.generator)
    assert dtypes.pop("output") == "float32"
    assert set(dtypes.values()) == {"bfloat16"}
    assert _layer_dtypes(run.model.discriminator)["logit"] == "float32"
    assert all(v.dtype == "float32" for v in run.model.variables if v.trainable)
    after = run.model.generator.trainable_variables
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after, strict=True))
    # The policy stays with the models built for the run.
    assert keras.config.dtype_policy().name == "float32"
    export = tf.saved_model.load(run.export_dir)
    z = tf.random.stateless_uniform([2, cfg.latent_dim], [0, 1], -1.0, 1.0)
    images = export.signatures["generate"](z=z)["images"]
    assert images.dtype == tf.float32
    # The trained generator, bfloat16 inside, its tanh pixels taken to [0, 1].
    expected = (run.model.generator(z, training=False).numpy() + 1.0) / 2.0
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-6)


def _vae_taking_sgd_steps(tmp_path, precision):
    # SGD's first step moves every weight by exactly -lr * gradient, so a loss
    # scale left in the gradient (x1024), taken out twice or never put in
    # (/1024), or doubled (x2) moves the weights by that factor. Adam would
    # hide all of these: its update is nearly invariant to the gradient's scale.
    keras.utils.set_random_seed(0)
    cfg = tiny_config(
        tmp_path / precision,
        model="vae",
        hidden_units=16,
        hidden_layers=1,
        optimizer="sgd",
        learning_rate=1e-3,
        mixed_precision=precision,
    )
    with execution.dtype_policy(cfg.mixed_precision):
        return registry.model_class("vae").from_flags(cfg, digits.load(), 2)


def test_mixed_float16_scales_losses_and_skips_overflowing_steps(tmp_path):
    model = _vae_taking_sgd_steps(tmp_path, "mixed_float16")
    unscaled = _vae_taking_sgd_steps(tmp_path, "float32")  # same seed: same weights and noise
    optimizer = model.ae_optimizer
    assert isinstance(optimizer, optimizers.LossScaleOptimizer)
    assert _layer_dtypes(model.encoder)["h0"] == "float16"
    images, labels = digits.load().arrays("train")
    batch = {
        "image": tf.constant(images[:8].astype(np.float32) / 255.0),
        "label": tf.constant(labels[:8]),
    }
    step = tf.function(model.train_step)

    # At a sane scale the step is taken, with the scale divided out again: the
    # float32 step without loss scaling, up to float16 rounding (measured 1e-3).
    optimizer.dynamic_scale.assign(2.0**10)
    before = [v.numpy() for v in model.trainable_variables]
    assert len(before) == len(unscaled.trainable_variables) == 8
    step(batch)
    unscaled.train_step(batch)
    for b, scaled, plain in zip(
        before, model.trainable_variables, unscaled.trainable_variables, strict=True
    ):
        expected = plain.numpy() - b
        np.testing.assert_allclose(
            scaled.numpy() - b, expected, atol=1e-2 * np.abs(expected).max(), err_msg=scaled.path
        )
    assert float(optimizer.dynamic_scale.numpy()) == 2.0**10
    assert int(optimizer.iterations.numpy()) == 1
    assert int(optimizer.inner_optimizer.iterations.numpy()) == 1

    # A scale no float16 gradient can carry: the step is skipped, and counted.
    optimizer.dynamic_scale.assign(1e30)
    before = [v.numpy() for v in model.trainable_variables]
    logs = step(batch)
    assert np.isfinite(float(logs["neg_elbo"]))
    for b, v in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(b, v.numpy())
    assert float(optimizer.dynamic_scale.numpy()) == pytest.approx(5e29, rel=1e-6)
    assert int(optimizer.iterations.numpy()) == 2
    assert int(optimizer.inner_optimizer.iterations.numpy()) == 1


def test_mixed_float16_run_checkpoints_and_resumes(tmp_path, monkeypatch):
    # The first run starts its loss scales at 2**7, where 8 overflowing steps
    # would have taken Keras' 2**15; the resumed run builds its optimizers at
    # 2**15, so only a restored scale is 2**7.
    original = optimizers.LossScaleOptimizer.__init__
    with monkeypatch.context() as patch:
        patch.setattr(
            optimizers.LossScaleOptimizer,
            "__init__",
            lambda self, inner, **kw: original(self, inner, **{"initial_scale": 2.0**7, **kw}),
        )
        training.run(tiny_config(tmp_path, model="gan", mixed_precision="mixed_float16"), verbose=0)
    saved = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    scales = {
        key.split("/")[0]: float(saved.get_tensor(key))
        for key in saved.get_variable_to_shape_map()
        if "dynamic_scale" in key
    }
    assert scales == {"d_optimizer": 2.0**7, "g_optimizer": 2.0**7}

    cfg = tiny_config(tmp_path, model="gan", mixed_precision="mixed_float16", epochs=2)
    run = training.run(cfg, verbose=0)
    assert run.epochs_done == 2
    assert int(run.model.g_optimizer.iterations.numpy()) == 4
    assert "loss_scale" not in run.history  # nothing extra in the logs
    for name in ("d_optimizer", "g_optimizer"):
        optimizer = getattr(run.model, name)
        assert optimizer.initial_scale == 2.0**15
        # Two more finite steps leave a dynamic scale as it was (it grows after 2000).
        assert float(optimizer.dynamic_scale.numpy()) == scales[name], name


def test_jit_compile_trains_the_step_with_xla(tmp_path):
    cfg = tiny_config(tmp_path, model="gan", jit_compile="true", run_eagerly=False)
    run = training.run(cfg, verbose=0)
    assert run.model.jit_compile is True
    # The step fit ran: Keras' train function calls it through a tf.function
    # made with jit_compile=model.jit_compile, traced once for the run.
    calls = inspect.getclosurevars(run.model.train_function).nonlocals
    step = inspect.getclosurevars(calls["one_step_on_data"]).nonlocals["step_func"]
    assert step.experimental_get_tracing_count() == 1
    # Only a function XLA compiles has compiler IR (others raise ValueError);
    # this one is the GAN's step: G's first layer on 8 noise vectors.
    batch = {"image": tf.zeros((8, 28, 28, 1)), "label": tf.zeros((8,), tf.int32)}
    hlo = step.experimental_get_compiler_ir(batch)(stage="hlo")
    assert hlo.startswith("HloModule") and "f32[8,1200]" in hlo


# --jit_compile=auto and --steps_per_execution=0 as the README states them
# (section "Speed"), not as execution.AUTO does: XLA off on a CPU, on on a
# GPU except under a tf.distribute strategy; 10 steps per call, 1 under one.
@pytest.mark.parametrize(
    "gpu, strategy, jit, per_call",
    [
        (False, False, False, 10),
        (True, False, True, 10),
        (True, True, False, 1),
    ],
)
def test_auto_execution_options_follow_the_device(
    tmp_path, monkeypatch, gpu, strategy, jit, per_call
):
    model = registry.model_class("gan").from_flags(tiny_config(tmp_path), digits.load(), 2)
    physical = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda kind=None: (["GPU:0"] if gpu else []) if kind == "GPU" else physical(kind),
    )
    scope = (
        tf.distribute.MirroredStrategy(["/cpu:0"]).scope() if strategy else contextlib.nullcontext()
    )
    with scope:
        execution.configure(model, tiny_config(tmp_path, run_eagerly=False))
    assert (model.jit_compile, model.steps_per_execution) == (jit, per_call)
    assert not model.run_eagerly


def test_run_eagerly_takes_the_traced_steps(tmp_path):
    # The GAN: dropout, k D steps on fresh minibatches and two optimizers.
    traced = training.run(tiny_config(tmp_path / "traced", run_eagerly=False), verbose=0)
    eager = training.run(tiny_config(tmp_path / "eager", run_eagerly=True), verbose=0)
    assert eager.model.run_eagerly and not traced.model.run_eagerly
    assert eager.history.keys() == traced.history.keys()
    for name, values in traced.history.items():
        np.testing.assert_allclose(eager.history[name], values, rtol=1e-5, err_msg=name)
    for a, b in zip(traced.model.variables, eager.model.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7, err_msg=a.path)
    with pytest.raises(config.UserError, match="--run_eagerly runs the step without tf.function"):
        tiny_config(tmp_path, run_eagerly=True, jit_compile="true")


def test_several_steps_per_execution_keep_step_counts_and_checkpoints(tmp_path):
    cfg = tiny_config(
        tmp_path,
        model="gan",
        steps_per_execution=2,
        steps_per_epoch=6,
        epochs=2,
        checkpoint_every_steps=5,
        keep_checkpoints=10,
        run_eagerly=False,  # 12 steps of the paper's GAN: faster traced
    )
    run = training.run(cfg, verbose=0)
    assert run.model.steps_per_execution == 2
    assert int(run.model.g_optimizer.iterations.numpy()) == 12
    # Calls end after steps 2, 4, 6 | 8, 10, 12: a checkpoint after each call
    # that reached a multiple of 5 (6, 10), and one at each epoch's end (6, 12).
    assert _checkpoint_steps(tmp_path) == [6, 10, 12]
    assert run.images_per_second and run.images_per_second > 0


def test_steps_per_execution_never_straddles_an_epoch(tmp_path):
    # 4 does not divide 6 steps: 3 steps per call, and epochs stay 6 steps.
    cfg = tiny_config(
        tmp_path, model="gan", steps_per_execution=4, steps_per_epoch=6, epochs=2, run_eagerly=False
    )
    run = training.run(cfg, verbose=0)
    assert run.model.steps_per_execution == 3
    assert _checkpoint_steps(tmp_path) == [6, 12]


def _checkpoint_steps(workdir):
    return sorted(
        int(name.split("-")[1].split(".")[0])
        for name in os.listdir(workdir / "checkpoints")
        if ".index" in name
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("mixed_precision", "float16", "--mixed_precision='float16' is not one of"),
        ("jit_compile", "yes", "--jit_compile='yes' is not one of"),
        ("steps_per_execution", -1, "--steps_per_execution=-1 must be >= 0"),
    ],
)
def test_bad_execution_flags_are_one_clear_error(tmp_path, name, value, message):
    with pytest.raises(config.UserError, match=message):
        tiny_config(tmp_path, **{name: value})


def test_tensorboard_batch_scalars_sit_on_the_step_axis_across_calls_and_resumes(tmp_path):
    def steps_logged():
        steps = []
        for path in sorted(glob.glob(f"{tmp_path}/logs/train/events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                steps += [event.step for v in event.summary.value if v.tag == "batch_d_loss"]
        return sorted(steps)

    flags = dict(model="gan", steps_per_execution=2, steps_per_epoch=4, log_every_steps=2)
    training.run(tiny_config(tmp_path, epochs=1, **flags), verbose=0)
    assert steps_logged() == [2, 4]
    training.run(tiny_config(tmp_path, epochs=2, **flags), verbose=0)  # resumes
    assert steps_logged() == [2, 4, 6, 8]


def test_under_a_strategy_auto_takes_one_step_per_call_and_more_is_one_clear_error(tmp_path):
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        run = training.run(
            tiny_config(tmp_path / "auto", model="gan", run_eagerly=False), verbose=0
        )
        assert run.model.steps_per_execution == 1
        with pytest.raises(config.UserError, match="cannot be used under a tf.distribute"):
            training.run(tiny_config(tmp_path / "two", steps_per_execution=2), verbose=0)


def test_divergence_inside_a_call_names_the_call_s_steps(tmp_path, monkeypatch):
    from gan_zoo import callbacks

    original = callbacks.DivergenceGuard.on_train_batch_end
    monkeypatch.setattr(
        callbacks.DivergenceGuard,
        "on_train_batch_end",
        lambda self, batch, logs=None: original(self, batch, dict(logs, d_loss=float("nan"))),
    )
    with pytest.raises(config.UserError, match="diverged in steps 1-2 .one call.: d_loss = nan"):
        training.run(tiny_config(tmp_path, steps_per_execution=2, steps_per_epoch=4), verbose=0)


def test_a_loss_that_really_diverges_stops_the_run_before_anything_of_it_is_saved(tmp_path):
    # No patched logs: a learning rate of 1e30 sends the weights past
    # float32's range. The VAE's first loss is computed before any update (the
    # GAN's G loss is not: its D has already stepped), so the run diverges
    # after at least one step it checkpoints.
    cfg = tiny_config(
        tmp_path,
        model="vae",
        hidden_units=16,
        hidden_layers=1,
        learning_rate=1e30,
        steps_per_epoch=6,
        steps_per_execution=1,
        checkpoint_every_steps=1,
        keep_checkpoints=10,
    )
    with pytest.raises(
        config.UserError,
        match=r"diverged at step (\d+): \w+ = -?(nan|inf)"
        r".*untouched",
    ) as stopped:
        training.run(cfg, verbose=0)
    step = int(re.search(r"at step (\d+)", str(stopped.value)).group(1))
    assert 1 < step <= 6
    assert _checkpoint_steps(tmp_path) == list(range(1, step))
    saved = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    assert all(
        np.all(np.isfinite(saved.get_tensor(key)))
        for key, dtype in saved.get_variable_to_dtype_map().items()
        if dtype.is_floating
    )
    assert not (tmp_path / "export").exists() and not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_every_model_takes_a_mixed_bfloat16_step(name, tmp_path):
    from gan_zoo.datasets import pipeline

    small = (
        dict(image_size=32, ngf=8, ndf=8)
        if name == "dcgan"
        else dict(width_factor=0.05)
        if name.startswith("gan_cifar10")
        else dict(hidden_units=16, hidden_layers=1)
        if name not in ("gan", "cgan")
        else {}
    )
    cfg = tiny_config(tmp_path, model=name, mixed_precision="mixed_bfloat16", **small)
    cls, source = registry.model_class(name), digits.load()
    with execution.dtype_policy(cfg.mixed_precision):
        model = cls.from_flags(cfg, source, 2)
    images, labels = source.arrays("train")
    n = cls.examples_per_step(cfg)
    batch = {
        "image": pipeline.model_images(images[:n], cls.output_range, cls.image_shape(cfg, source)),
        "label": tf.constant(labels[:n]),
    }
    if hasattr(cls, "labelled_subset"):
        batch.update(
            labelled_image=batch["image"][: cfg.batch_size],
            labelled_label=batch["label"][: cfg.batch_size],
        )
    logs = model.train_step(batch)  # eagerly: cheap for these tiny networks
    assert logs and all(np.all(np.isfinite(v.numpy())) for v in logs.values())
    assert all(v.dtype == "float32" for v in model.trainable_variables)


def test_the_aae_pretraining_switch_lands_on_its_epoch_with_several_steps_per_call(tmp_path):
    run = training.run(
        tiny_config(
            tmp_path,
            model="aae",
            hidden_units=16,
            hidden_layers=1,
            pretrain_epochs=1,
            epochs=3,
            steps_per_epoch=4,
            steps_per_execution=4,
            run_eagerly=False,
        ),
        verbose=0,
    )
    # One reconstruction-only epoch of 4 steps, then 2 epochs that regularize.
    assert int(run.model.ae_optimizer.iterations.numpy()) == 12
    assert int(run.model.d_optimizer.iterations.numpy()) == 8

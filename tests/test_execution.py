"""--mixed_precision, --jit_compile and --steps_per_execution."""

import glob
import os

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
    cfg = tiny_config(tmp_path, model="dcgan", image_size=32, ngf=8, ndf=8,
                      mixed_precision="mixed_bfloat16")
    before = [v.numpy() for v in training._prepare(cfg)[1].generator.trainable_variables]
    run = training.run(cfg, verbose=0)
    dtypes = _layer_dtypes(run.model.generator)
    assert dtypes.pop("output") == "float32"
    assert set(dtypes.values()) == {"bfloat16"}
    assert _layer_dtypes(run.model.discriminator)["logit"] == "float32"
    assert all(v.dtype == "float32" for v in run.model.variables if v.trainable)
    after = run.model.generator.trainable_variables
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))
    # The policy stays with the models built for the run.
    assert keras.config.dtype_policy().name == "float32"
    export = tf.saved_model.load(run.export_dir)
    images = export.signatures["generate"](z=tf.zeros([2, cfg.latent_dim]))["images"]
    assert images.dtype == tf.float32
    assert np.all(np.abs(images.numpy()) <= 1.0)


def test_mixed_float16_scales_losses_and_skips_overflowing_steps(tmp_path):
    cfg = tiny_config(tmp_path, model="vae", hidden_units=16, hidden_layers=1,
                      mixed_precision="mixed_float16")
    with execution.dtype_policy(cfg.mixed_precision):
        model = registry.model_class("vae").from_flags(cfg, digits.load(), 2)
    optimizer = model.ae_optimizer
    assert isinstance(optimizer, optimizers.LossScaleOptimizer)
    assert _layer_dtypes(model.encoder)["h0"] == "float16"
    images, labels = digits.load().arrays("train")
    batch = {"image": tf.constant(images[:8].astype(np.float32) / 255.0),
             "label": tf.constant(labels[:8])}
    step = tf.function(model.train_step)

    # A scale no float16 gradient can carry: the step is skipped, and counted.
    optimizer.dynamic_scale.assign(1e30)
    before = [v.numpy() for v in model.encoder.trainable_variables]
    logs = step(batch)
    assert np.isfinite(float(logs["neg_elbo"]))
    assert all(np.array_equal(b, v.numpy())
               for b, v in zip(before, model.encoder.trainable_variables))
    assert float(optimizer.dynamic_scale.numpy()) == pytest.approx(5e29, rel=1e-6)
    assert int(optimizer.iterations.numpy()) == 1
    assert int(optimizer.inner_optimizer.iterations.numpy()) == 0

    # At a sane scale the step is taken, with the scale divided out again.
    optimizer.dynamic_scale.assign(2.0 ** 10)
    step(batch)
    assert int(optimizer.iterations.numpy()) == 2
    assert int(optimizer.inner_optimizer.iterations.numpy()) == 1
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(before, model.encoder.trainable_variables))


def test_mixed_float16_run_checkpoints_and_resumes(tmp_path):
    cfg = tiny_config(tmp_path, model="gan", mixed_precision="mixed_float16", epochs=2)
    training.run(tiny_config(tmp_path, model="gan", mixed_precision="mixed_float16"), verbose=0)
    run = training.run(cfg, verbose=0)
    assert run.epochs_done == 2
    assert int(run.model.g_optimizer.iterations.numpy()) == 4
    assert "loss_scale" not in run.history  # nothing extra in the logs
    assert float(run.model.d_optimizer.dynamic_scale.numpy()) > 0


def test_jit_compile_trains_the_step_with_xla(tmp_path):
    cfg = tiny_config(tmp_path, model="gan", jit_compile="true")
    run = training.run(cfg, verbose=0)
    assert run.model.jit_compile is True
    assert np.isfinite(run.history["d_loss"][-1])


def test_auto_execution_options_follow_the_device(tmp_path):
    model = execution.configure(
        registry.model_class("gan").from_flags(tiny_config(tmp_path), digits.load(), 2),
        tiny_config(tmp_path))
    auto = execution.AUTO[execution.device_kind()]
    assert model.jit_compile == auto["jit_compile"]
    assert model.steps_per_execution == auto["steps_per_execution"]


def test_several_steps_per_execution_keep_step_counts_and_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path, model="gan", steps_per_execution=2, steps_per_epoch=6,
                      epochs=2, checkpoint_every_steps=5, keep_checkpoints=10)
    run = training.run(cfg, verbose=0)
    assert run.model.steps_per_execution == 2
    assert int(run.model.g_optimizer.iterations.numpy()) == 12
    # Calls end after steps 2, 4, 6 | 8, 10, 12: a checkpoint after each call
    # that reached a multiple of 5 (6, 10), and one at each epoch's end (6, 12).
    assert _checkpoint_steps(tmp_path) == [6, 10, 12]
    assert run.images_per_second and run.images_per_second > 0


def test_steps_per_execution_never_straddles_an_epoch(tmp_path):
    # 4 does not divide 6 steps: 3 steps per call, and epochs stay 6 steps.
    cfg = tiny_config(tmp_path, model="gan", steps_per_execution=4, steps_per_epoch=6,
                      epochs=2)
    run = training.run(cfg, verbose=0)
    assert run.model.steps_per_execution == 3
    assert _checkpoint_steps(tmp_path) == [6, 12]


def _checkpoint_steps(workdir):
    return sorted(int(name.split("-")[1].split(".")[0])
                  for name in os.listdir(workdir / "checkpoints") if ".index" in name)


@pytest.mark.parametrize("name, value, message", [
    ("mixed_precision", "float16", "--mixed_precision='float16' is not one of"),
    ("jit_compile", "yes", "--jit_compile='yes' is not one of"),
    ("steps_per_execution", -1, "--steps_per_execution=-1 must be >= 0"),
])
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
        run = training.run(tiny_config(tmp_path / "auto", model="gan"), verbose=0)
        assert run.model.steps_per_execution == 1
        with pytest.raises(config.UserError, match="cannot be used under a tf.distribute"):
            training.run(tiny_config(tmp_path / "two", steps_per_execution=2), verbose=0)


def test_divergence_inside_a_call_names_the_call_s_steps(tmp_path, monkeypatch):
    from gan_zoo import callbacks

    original = callbacks.DivergenceGuard.on_train_batch_end
    monkeypatch.setattr(callbacks.DivergenceGuard, "on_train_batch_end",
                        lambda self, batch, logs=None: original(self, batch,
                                                                dict(logs, d_loss=float("nan"))))
    with pytest.raises(config.UserError, match="diverged in steps 1-2 .one call.: d_loss = nan"):
        training.run(tiny_config(tmp_path, steps_per_execution=2, steps_per_epoch=4), verbose=0)


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_every_model_takes_a_mixed_bfloat16_step(name, tmp_path):
    from gan_zoo.datasets import pipeline

    small = (dict(image_size=32, ngf=8, ndf=8) if name == "dcgan" else
             dict(hidden_units=16, hidden_layers=1) if name not in ("gan", "cgan") else {})
    cfg = tiny_config(tmp_path, model=name, mixed_precision="mixed_bfloat16", **small)
    cls, source = registry.model_class(name), digits.load()
    with execution.dtype_policy(cfg.mixed_precision):
        model = cls.from_flags(cfg, source, 2)
    images, labels = source.arrays("train")
    n = cls.examples_per_step(cfg)
    batch = {"image": pipeline.model_images(images[:n], cls.output_range,
                                            cls.image_shape(cfg, source)),
             "label": tf.constant(labels[:n])}
    if hasattr(cls, "labelled_subset"):
        batch.update(labelled_image=batch["image"][:cfg.batch_size],
                     labelled_label=batch["label"][:cfg.batch_size])
    logs = model.train_step(batch)  # eagerly: cheap for these tiny networks
    assert logs and all(np.all(np.isfinite(v.numpy())) for v in logs.values())
    assert all(v.dtype == "float32" for v in model.trainable_variables)


def test_the_aae_pretraining_switch_lands_on_its_epoch_with_several_steps_per_call(tmp_path):
    run = training.run(tiny_config(tmp_path, model="aae", hidden_units=16, hidden_layers=1,
                                   pretrain_epochs=1, epochs=3, steps_per_epoch=4,
                                   steps_per_execution=4), verbose=0)
    # One reconstruction-only epoch of 4 steps, then 2 epochs that regularize.
    assert int(run.model.ae_optimizer.iterations.numpy()) == 12
    assert int(run.model.d_optimizer.iterations.numpy()) == 8

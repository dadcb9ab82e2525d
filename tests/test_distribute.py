"""Training under tf.distribute.MirroredStrategy on 2 logical CPU devices
(in a subprocess: logical devices must be set before TensorFlow starts)."""

import json
import textwrap

import pytest

from conftest import run_script

SCRIPT = textwrap.dedent("""
    import json, sys
    import keras, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, "tests")
    from conftest import tiny_config
    from gan_zoo import priors, training

    out, root = {}, sys.argv[1]
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    # Noise: each replica gets its own rows of the draw one replica would make.
    with mirrored.scope():
        generator = keras.random.SeedGenerator(7)
    per_replica = mirrored.run(
        lambda: priors.Gaussian().sample((3, 2), generator))
    halves = [t.numpy() for t in mirrored.experimental_local_results(per_replica)]
    whole = priors.Gaussian().sample((6, 2), keras.random.SeedGenerator(7)).numpy()
    out["noise_replicas_differ"] = bool(not np.allclose(halves[0], halves[1]))
    out["noise_matches_one_replica"] = bool(np.allclose(np.concatenate(halves), whole))

    # A 2-replica step equals a 1-replica step on the same global batch: the
    # losses are averaged over the global batch and the noise is the same.
    from gan_zoo import registry
    from gan_zoo.datasets import digits
    images, labels = digits.load().arrays("train")
    batch = {"image": tf.constant(images[:8].astype(np.float32) / 255.0),
             "label": tf.constant(labels[:8])}
    halves = mirrored.experimental_distribute_values_from_function(
        lambda ctx: {k: v[4 * ctx.replica_id_in_sync_group:][:4] for k, v in batch.items()})
    for name in ["vae", "dae", "aae"]:
        def build(strategy):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                return registry.model_class(name).from_flags(
                    tiny_config(root + "/x", model=name, hidden_units=16, hidden_layers=1),
                    digits.load(), 2)
        one, two = build(tf.distribute.get_strategy()), build(mirrored)
        step = tf.function(two.train_step)  # traced once, not once per step
        for _ in range(3):
            one.train_step(batch)
            mirrored.run(step, args=(halves,))
        out[name] = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                        for a, b in zip(one.variables, two.variables) if "float" in str(a.dtype))

    # Loss scaling (mixed_float16) under two replicas: the step is taken, counted
    # once per step, and matches the one-replica step up to float16 rounding.
    from gan_zoo import execution
    def build_f16(strategy):
        keras.utils.set_random_seed(0)
        cfg = tiny_config(root + "/x", model="vae", hidden_units=16, hidden_layers=1,
                          mixed_precision="mixed_float16")
        with strategy.scope(), execution.dtype_policy(cfg.mixed_precision):
            return registry.model_class("vae").from_flags(cfg, digits.load(), 2)
    one, two = build_f16(tf.distribute.get_strategy()), build_f16(mirrored)
    step = tf.function(two.train_step)
    for _ in range(3):
        one.train_step(batch)
        mirrored.run(step, args=(halves,))
    out["f16_iterations"] = int(two.ae_optimizer.iterations.numpy())
    out["f16_inner_iterations"] = int(two.ae_optimizer.inner_optimizer.iterations.numpy())
    out["f16"] = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                     for a, b in zip(one.variables, two.variables) if "float" in str(a.dtype))

    # DCGAN: with synchronised BatchNorm the 2-replica step is the 1-replica
    # step; with per-replica BatchNorm (half-batch statistics) it is not.
    from gan_zoo.datasets.pipeline import model_images
    small = {"image": model_images(images[:8], (-1.0, 1.0), (32, 32, 1)),
             "label": batch["label"]}
    small_halves = mirrored.experimental_distribute_values_from_function(
        lambda ctx: {k: v[4 * ctx.replica_id_in_sync_group:][:4] for k, v in small.items()})
    for sync in (True, False):
        def build_dcgan(strategy):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                return registry.model_class("dcgan").from_flags(
                    tiny_config(root + "/x", model="dcgan", image_size=32, ngf=8, ndf=8,
                                sync_batchnorm=sync), digits.load(), 2)
        one, two = build_dcgan(tf.distribute.get_strategy()), build_dcgan(mirrored)
        step = tf.function(two.train_step)
        for _ in range(2):
            one.train_step(small)
            mirrored.run(step, args=(small_halves,))
        out[f"dcgan_sync_{sync}"] = max(
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(one.variables, two.variables) if "float" in str(a.dtype))

    # Whole runs through fit(): the mirrored run sees the batches, noise and
    # updates of the one-device run.
    flags = dict(model="vae", hidden_units=16, hidden_layers=1, steps_per_epoch=3, epochs=2)
    alone = training.run(tiny_config(root + "/alone", **flags), verbose=0)
    with mirrored.scope():
        both = training.run(tiny_config(root + "/both", **flags), verbose=0)
    out["vae_fit"] = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                         for a, b in zip(alone.model.variables, both.model.variables)
                         if "float" in str(a.dtype))

    # And with the AAE's switch from pretraining.
    with mirrored.scope():
        for model, extra in [("aae", dict(pretrain_epochs=1, epochs=2)),
                             ("aae_semi_supervised", dict(num_labels=20))]:
            run = training.run(tiny_config(root + "/" + model, model=model, hidden_units=16,
                                           hidden_layers=1, **extra), verbose=0)
            out[model + "_fit"] = {"history": {k: v[-1] for k, v in run.history.items()},
                                   "d_updates": int(run.model.d_optimizer.iterations.numpy())}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrored")
    script = root / "mirrored.py"
    script.write_text(SCRIPT)
    result = run_script(str(script), str(root))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_each_replica_draws_its_own_rows_of_the_global_noise(mirrored):
    assert mirrored["noise_replicas_differ"] and mirrored["noise_matches_one_replica"]


@pytest.mark.parametrize("model", ["vae", "dae", "aae"])
def test_two_replicas_take_the_one_replica_step(mirrored, model):
    # Reparameterisation noise, corruption and prior samples included; only
    # float summation order differs.
    assert mirrored[model] < 1e-6


def test_loss_scaling_under_two_replicas_takes_and_counts_the_one_replica_steps(mirrored):
    assert mirrored["f16_iterations"] == 3 and mirrored["f16_inner_iterations"] == 3
    assert mirrored["f16"] < 1e-3


def test_a_mirrored_fit_takes_the_one_device_run_s_steps(mirrored):
    assert mirrored["vae_fit"] < 1e-5


def test_aae_pretraining_switch_and_semi_supervised_metrics_under_two_replicas(mirrored):
    # 1 of 2 epochs (2 steps each) is reconstruction-only.
    assert mirrored["aae_fit"]["d_updates"] == 2
    assert all(abs(v) < 1e6 for v in mirrored["aae_fit"]["history"].values())
    assert 0.0 <= mirrored["aae_semi_supervised_fit"]["history"]["test_error"] <= 1.0


def test_dcgan_synchronised_batchnorm_makes_two_replicas_one(mirrored):
    assert mirrored["dcgan_sync_True"] < 1e-5
    assert mirrored["dcgan_sync_False"] > 1e-3

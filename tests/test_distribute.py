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
    def copies_differ(model):
        # Names of the weights and optimizer slots whose two devices' copies
        # differ: each replica's update must reach its own copies.
        variables = list(model.variables) + [
            v for opt in model.checkpoint_items().values() for v in opt.variables]
        return [v.path for v in variables
                if not all(np.array_equal(c.numpy(), v.value.values[0].numpy())
                           for c in v.value.values)]

    for name in ["vae", "dae", "aae"]:
        def build(strategy):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                return registry.model_class(name).from_flags(
                    tiny_config(root + "/x", model=name, hidden_units=16, hidden_layers=1),
                    digits.load(), 2)
        one, two = build(tf.distribute.get_strategy()), build(mirrored)
        # The mirrored side traced, as fit runs it under a strategy; the
        # one-device side eagerly, which takes the traced steps
        # (test_execution) without the cost of tracing them.
        one_step, step = one.train_step, tf.function(two.train_step)
        for _ in range(3):
            one_step(batch)
            mirrored.run(step, args=(halves,))
        out[name] = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                        for a, b in zip(one.variables, two.variables, strict=True)
                        if "float" in str(a.dtype))
        out[name + "_copies_differ"] = copies_differ(two)

    # Loss scaling (mixed_float16) under two replicas: the step is taken, counted
    # once per step, and is the float32 step without loss scaling up to float16
    # rounding. SGD, whose update is -lr * gradient: a loss scale left in the
    # gradients (x1024), or a gradient summed over the replicas instead of
    # averaged (x2), moves the weights by that factor (Adam's update would
    # barely change). Distances are relative to the unscaled update.
    from gan_zoo import execution
    def build_sgd(strategy, precision):
        keras.utils.set_random_seed(0)
        cfg = tiny_config(root + "/x", model="vae", hidden_units=16, hidden_layers=1,
                          optimizer="sgd", learning_rate=1e-3, mixed_precision=precision)
        with strategy.scope(), execution.dtype_policy(cfg.mixed_precision):
            return registry.model_class("vae").from_flags(cfg, digits.load(), 2)
    default = tf.distribute.get_strategy()
    one, two = build_sgd(default, "mixed_float16"), build_sgd(mirrored, "mixed_float16")
    unscaled = build_sgd(default, "float32")
    start = [v.numpy() for v in unscaled.trainable_variables]
    steps = [one.train_step, tf.function(two.train_step), unscaled.train_step]
    for _ in range(3):
        steps[0](batch)
        mirrored.run(steps[1], args=(halves,))
        steps[2](batch)
    def relative_distance(model):
        return max(float(np.max(np.abs(a.numpy() - b.numpy())) / np.max(np.abs(b.numpy() - s)))
                   for a, b, s in zip(model.trainable_variables, unscaled.trainable_variables,
                                      start, strict=True))
    out["f16_iterations"] = int(two.ae_optimizer.iterations.numpy())
    out["f16_inner_iterations"] = int(two.ae_optimizer.inner_optimizer.iterations.numpy())
    out["f16_copies_differ"] = copies_differ(two)
    out["f16_one_replica"] = relative_distance(one)
    out["f16_two_replicas"] = relative_distance(two)

    # DCGAN: with synchronised BatchNorm the 2-replica step is the 1-replica
    # step; with per-replica BatchNorm (half-batch statistics) it is not.
    from gan_zoo.datasets import pipeline
    from gan_zoo.datasets.pipeline import model_images
    small = {"image": model_images(images[:8], (-1.0, 1.0), (32, 32, 1)),
             "label": batch["label"]}
    small_halves = mirrored.experimental_distribute_values_from_function(
        lambda ctx: {k: v[4 * ctx.replica_id_in_sync_group:][:4] for k, v in small.items()})
    def build_dcgan(strategy, sync):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            return registry.model_class("dcgan").from_flags(
                tiny_config(root + "/x", model="dcgan", image_size=32, ngf=8, ndf=8,
                            sync_batchnorm=sync), digits.load(), 2)
    # One device has one batch whatever the flag: one reference for both.
    one = build_dcgan(tf.distribute.get_strategy(), True)
    for _ in range(2):
        one.train_step(small)
    for sync in (True, False):
        two = build_dcgan(mirrored, sync)
        step = tf.function(two.train_step)
        for _ in range(2):
            mirrored.run(step, args=(small_halves,))
        out[f"dcgan_sync_{sync}_copies_differ"] = copies_differ(two)
        out[f"dcgan_sync_{sync}"] = max(
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(one.variables, two.variables, strict=True) if "float" in str(a.dtype))

    # Whole runs through fit(): the mirrored run sees the batches, noise and
    # updates of the one-device run.
    # The mirrored run traced, as fit runs a step under a strategy for a user.
    flags = dict(model="vae", hidden_units=16, hidden_layers=1, steps_per_epoch=3, epochs=2)
    alone = training.run(tiny_config(root + "/alone", **flags), verbose=0)
    with mirrored.scope():
        both = training.run(tiny_config(root + "/both", **flags, run_eagerly=False), verbose=0)
    out["vae_fit"] = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                         for a, b in zip(alone.model.variables, both.model.variables, strict=True)
                         if "float" in str(a.dtype))

    # The semi-supervised AAE under two replicas: its switch from pretraining
    # retraces the step, and its held-out error, logged, is the error of its
    # categories on the test digits. (A one-device fit to compare the whole
    # run with would cost another 8 CPU-seconds.)
    with mirrored.scope():
        cfg = tiny_config(root + "/semi", model="aae_semi_supervised", hidden_units=16,
                          hidden_layers=1, num_labels=20, pretrain_epochs=1, epochs=2,
                          run_eagerly=False)
        run = training.run(cfg, verbose=0)
    source = digits.load()
    images, labels = pipeline.held_out(source, 10000, run.model.output_range,
                                       run.model.image_shape(cfg, source))
    predicted = run.model.categorical.categories(images).numpy()
    out["aae_semi_supervised_fit"] = {
        "updates": {name: int(opt.iterations.numpy())
                    for name, opt in run.model.checkpoint_items().items()},
        "logged": run.history["test_error"][-1],
        "recomputed": float(np.mean(predicted != labels.numpy()))}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrored")
    script = root / "mirrored.py"
    script.write_text(SCRIPT)
    # A hang guard, not a speed test: the script takes ~90 CPU-s, far more on a busy machine.
    result = run_script(str(script), str(root), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_each_replica_draws_its_own_rows_of_the_global_noise(mirrored):
    assert mirrored["noise_replicas_differ"] and mirrored["noise_matches_one_replica"]


@pytest.mark.parametrize("model", ["vae", "dae", "aae"])
def test_two_replicas_take_the_one_replica_step(mirrored, model):
    # Reparameterisation noise, corruption and prior samples included; only
    # float summation order differs.
    assert mirrored[model] < 1e-6
    assert mirrored[model + "_copies_differ"] == []


def test_loss_scaling_under_two_replicas_takes_and_counts_the_one_replica_steps(mirrored):
    assert mirrored["f16_iterations"] == 3 and mirrored["f16_inner_iterations"] == 3
    # float16 rounding moves the update by about 1e-3 of itself; a x2 error by 1.
    assert mirrored["f16_one_replica"] < 1e-2
    assert mirrored["f16_two_replicas"] < 1e-2
    assert mirrored["f16_copies_differ"] == []


def test_a_mirrored_fit_takes_the_one_device_run_s_steps(mirrored):
    assert mirrored["vae_fit"] < 1e-5


def test_aae_pretraining_switch_and_semi_supervised_metrics_under_two_replicas(mirrored):
    semi = mirrored["aae_semi_supervised_fit"]
    # 1 of 2 epochs (2 steps each) trains no adversary; the reconstruction
    # and the labelled classification phases run in both.
    assert semi["updates"] == {
        "ae_optimizer": 4,
        "d_optimizer": 2,
        "g_optimizer": 2,
        "c_optimizer": 4,
    }
    assert semi["logged"] == pytest.approx(semi["recomputed"], abs=1e-7)


def test_dcgan_synchronised_batchnorm_makes_two_replicas_one(mirrored):
    assert mirrored["dcgan_sync_True"] < 1e-5
    assert mirrored["dcgan_sync_False"] > 1e-3
    # Per-replica BatchNorm: the moving statistics differ by device, nothing else.
    assert mirrored["dcgan_sync_True_copies_differ"] == []
    differ = mirrored["dcgan_sync_False_copies_differ"]
    assert differ and all(path.rsplit("/", 1)[1].startswith("moving_") for path in differ)

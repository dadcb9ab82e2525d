import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import optimizers
from gan_zoo.datasets import digits, pipeline
from gan_zoo.models.gan import GAN


def _build(tiny, **overrides):
    cfg = tiny(**overrides)
    model = GAN.from_flags(cfg, digits.load(), steps_per_epoch=2)
    ds, _ = pipeline.training_dataset(digits.load(), "train", GAN.examples_per_step(cfg),
                                      GAN.output_range, cfg.seed)
    return cfg, model, ds


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_paper_networks(tiny):
    _, model, _ = _build(tiny)
    g, d = model.generator, model.discriminator
    assert [l.units for l in g.layers if isinstance(l, keras.layers.Dense)] == [1200, 1200, 784]
    assert g.output_shape == (None, 28, 28, 1)
    maxouts = [l for l in d.layers if l.__class__.__name__ == "Maxout"]
    assert [(l.units, l.pieces) for l in maxouts] == [(240, 5), (240, 5)]
    rates = [l.rate for l in d.layers if isinstance(l, keras.layers.Dropout)]
    assert rates == [0.2, 0.5, 0.5]
    z = model.sample_noise(2000)
    assert abs(float(tf.reduce_max(tf.abs(z))) - np.sqrt(3)) < 0.01
    assert abs(float(tf.math.reduce_std(z)) - 1.0) < 0.01


def test_generator_starts_near_the_mean_digit(tiny):
    _, model, _ = _build(tiny)
    images = model.preview(16, seed=0).numpy()
    mean = digits.load().pixel_mean()
    assert images.min() >= 0.0 and images.max() <= 1.0
    # Output bias = logit(mean image), as the authors initialised it.
    assert np.abs(images.mean(0) - mean).mean() < 0.05


def test_one_step_changes_both_networks(tiny):
    _, model, ds = _build(tiny)
    g_before, d_before = _values(model.generator.weights), _values(model.discriminator.weights)
    model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    assert all(_changed(g_before, model.generator.weights))
    assert all(_changed(d_before, model.discriminator.weights))


def test_each_phase_moves_only_its_own_network(tiny):
    _, model, ds = _build(tiny)
    batch = next(iter(ds))
    g_before, d_before = _values(model.generator.weights), _values(model.discriminator.weights)
    model.discriminator_update(batch)
    assert not any(_changed(g_before, model.generator.weights))
    assert all(_changed(d_before, model.discriminator.weights))
    d_before = _values(model.discriminator.weights)
    model.generator_update(batch)
    assert all(_changed(g_before, model.generator.weights))
    assert not any(_changed(d_before, model.discriminator.weights))


def test_k_discriminator_steps_each_on_a_distinct_minibatch(tiny):
    _, model, ds = _build(tiny, d_steps=3, batch_size=4)
    batch = next(iter(ds))
    assert batch["image"].shape[0] == 12  # k * m examples per step
    seen, noise = [], []
    original_update, original_noise = model.discriminator_update, model.sample_noise

    def spy_update(b):
        seen.append(b["image"].numpy())
        return original_update(b)

    def spy_noise(m):
        z = original_noise(m)
        noise.append(z.numpy())
        return z

    model.discriminator_update, model.sample_noise = spy_update, spy_noise
    model.train_step(batch)
    assert len(seen) == 3 and all(s.shape[0] == 4 for s in seen)
    # The three D minibatches partition the step's batch: disjoint, nothing reused.
    np.testing.assert_array_equal(np.concatenate(seen), batch["image"].numpy())
    flat = [s.reshape(4, -1) for s in seen]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not any((a == b).all() for a in flat[i] for b in flat[j])
    # 3 D noise batches + 1 fresh G noise batch, all different.
    assert len(noise) == 4
    assert len({z.tobytes() for z in noise}) == 4


def test_update_counts_under_fit(tiny):
    _, model, ds = _build(tiny, d_steps=3, batch_size=4)
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.d_optimizer.iterations) == 6
    assert int(model.g_optimizer.iterations) == 2


@pytest.mark.parametrize("gen_loss", ["minimax", "non_saturating"])
def test_metrics_reported(tiny, gen_loss):
    _, model, ds = _build(tiny, gen_loss=gen_loss)
    logs = model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0).history
    assert set(logs) == {"d_loss", "g_loss", "D_x", "D_G_z"}
    assert 0 < logs["D_x"][0] < 1 and 0 < logs["D_G_z"][0] < 1
    assert (logs["g_loss"][0] < 0) == (gen_loss == "minimax")


def test_get_config_round_trips(tiny):
    _, model, _ = _build(tiny, d_steps=2, gen_loss="minimax", noise="gaussian")
    clone = GAN.from_config(model.get_config())
    assert (clone.d_steps, clone.gen_loss, clone.noise, clone.latent_dim) == (2, "minimax",
                                                                           "gaussian", 100)
    assert clone.generator.count_params() == model.generator.count_params()


def test_paper_schedules():
    lr = optimizers.DecayWithFloor(0.1, 1.000004, 1e-6)
    np.testing.assert_allclose(float(lr(0)), 0.1)
    np.testing.assert_allclose(float(lr(100000)), 0.1 / 1.000004 ** 100000, rtol=1e-4)
    assert float(lr(10 ** 8)) == pytest.approx(1e-6)
    ramp = optimizers.EpochRamp(0.5, 0.7, epochs=250, updates_per_epoch=500)
    assert float(ramp(499)) == pytest.approx(0.5)
    assert float(ramp(125 * 500)) == pytest.approx(0.6)
    assert float(ramp(10 ** 7)) == pytest.approx(0.7)


def test_scheduled_momentum_sgd_matches_hand_update():
    schedule = optimizers.EpochRamp(0.5, 0.7, epochs=2, updates_per_epoch=1)
    opt = optimizers.ScheduledMomentumSGD(0.1, schedule)
    w = keras.Variable([1.0])
    opt.build([w])
    velocity, expected = 0.0, 1.0
    for step in range(4):
        mu = 0.5 + 0.2 * min(step / 2, 1.0)
        velocity = mu * velocity - 0.1 * 2.0
        expected += velocity
        opt.apply_gradients([(tf.constant([2.0]), w)])
    assert float(w.numpy()[0]) == pytest.approx(expected, rel=1e-6)

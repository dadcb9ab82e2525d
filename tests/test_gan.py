import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import networks, optimizers, registry
from gan_zoo.datasets import digits, pipeline
from gan_zoo.models.gan import GAN


def _build(tiny, **overrides):
    cfg = tiny(**overrides)
    model = GAN.from_flags(cfg, digits.load(), steps_per_epoch=2)
    ds, _ = pipeline.training_dataset(
        digits.load(), "train", GAN.examples_per_step(cfg), GAN.output_range, cfg.seed
    )
    return cfg, model, ds


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables, strict=True)]


def test_paper_networks(tiny):
    _, model, _ = _build(tiny)
    g, d = model.generator, model.discriminator
    assert [layer.units for layer in g.layers if isinstance(layer, keras.layers.Dense)] == [
        1200,
        1200,
        784,
    ]
    assert g.output_shape == (None, 28, 28, 1)
    maxouts = [layer for layer in d.layers if layer.__class__.__name__ == "Maxout"]
    assert [(layer.units, layer.pieces) for layer in maxouts] == [(240, 5), (240, 5)]
    rates = [layer.rate for layer in d.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.2, 0.5, 0.5]
    z = model.sample_noise(2000)
    assert abs(float(tf.reduce_max(tf.abs(z))) - np.sqrt(3)) < 0.01
    assert abs(float(tf.math.reduce_std(z)) - 1.0) < 0.01


def test_maxout_gradient_goes_to_the_largest_piece():
    layer = networks.Maxout(units=3, pieces=4)
    x = tf.random.stateless_normal([6, 5], seed=[1, 2])
    layer.build(x.shape)
    dy = tf.random.stateless_normal([6, 3], seed=[3, 4])

    def input_grads(training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
        return y, tape.gradient(y, x, output_gradients=dy)

    y_train, g_train = input_grads(True)
    y_infer, g_infer = input_grads(False)  # TensorFlow's own reduce_max gradient
    np.testing.assert_array_equal(y_train.numpy(), y_infer.numpy())
    np.testing.assert_array_equal(g_train.numpy(), g_infer.numpy())

    # Tied pieces (all four equal): the whole dy goes to the first, once.
    z = tf.zeros([2, 3, 4])
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = networks._max_over_pieces(z)
    g = tape.gradient(y, z, output_gradients=tf.ones([2, 3])).numpy()
    assert (g[..., 0] == 1).all() and (g[..., 1:] == 0).all()


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


@pytest.mark.parametrize("adversarial_loss", ["minimax", "non_saturating"])
def test_metrics_reported(tiny, adversarial_loss):
    _, model, ds = _build(tiny, adversarial_loss=adversarial_loss)
    logs = model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0).history
    assert set(logs) == {"d_loss", "g_loss", "D_x", "D_G_z"}
    assert 0 < logs["D_x"][0] < 1 and 0 < logs["D_G_z"][0] < 1
    assert (logs["g_loss"][0] < 0) == (adversarial_loss == "minimax")


def test_get_config_round_trips(tiny):
    _, model, _ = _build(tiny, d_steps=2, adversarial_loss="minimax", noise="gaussian")
    clone = GAN.from_config(model.get_config())
    assert (clone.d_steps, clone.adversarial_loss, clone.noise, clone.latent_dim) == (
        2,
        "minimax",
        "gaussian",
        100,
    )
    assert clone.generator.count_params() == model.generator.count_params()


def test_paper_schedules():
    lr = optimizers.DecayWithFloor(0.1, 1.000004, 1e-6)
    np.testing.assert_allclose(float(lr(0)), 0.1)
    np.testing.assert_allclose(float(lr(100000)), 0.1 / 1.000004**100000, rtol=1e-4)
    assert float(lr(10**8)) == pytest.approx(1e-6)
    ramp = optimizers.EpochRamp(0.5, 0.7, epochs=250, updates_per_epoch=500)
    assert float(ramp(499)) == pytest.approx(0.5)
    assert float(ramp(125 * 500)) == pytest.approx(0.6)
    assert float(ramp(10**7)) == pytest.approx(0.7)


@pytest.mark.parametrize("optimizer, lr_decay", [("adam", 1.0), ("sgd", 1.01)])
def test_learning_rates_drop_after_the_named_epochs_from_any_schedule(optimizer, lr_decay):
    cfg = registry.resolve(
        dict(optimizer=optimizer, lr_decay=lr_decay, lr_drop_epochs="3,1", lr_drop_factor=0.5)
    )
    # A discriminator stepped twice a step drops at the same epochs as its generator.
    for updates_per_epoch in (2, 4):
        opt = optimizers.build(cfg, updates_per_epoch)
        w = keras.Variable([1.0])
        opt.build([w])
        rates = []
        for _ in range(5 * updates_per_epoch):
            rates.append(float(opt.learning_rate))
            opt.apply_gradients([(tf.constant([1.0]), w)])
        undropped = [cfg.learning_rate / lr_decay**t for t in range(len(rates))]
        factors = [(1.0, 0.5, 0.5, 0.25, 0.25)[t // updates_per_epoch] for t in range(len(rates))]
        np.testing.assert_allclose(rates, np.multiply(undropped, factors), rtol=1e-5)


def test_an_optimizer_with_drops_restores_a_checkpoint_written_without(tmp_path):
    # Keras matches an optimizer's variables by position; drops must not move them.
    cfg = registry.resolve(dict(optimizer="adam", learning_rate=0.01, lr_decay=1.0))
    w = keras.Variable([1.0, 2.0])
    before = optimizers.build(cfg, 3)
    before.build([w])
    for _ in range(4):
        before.apply_gradients([(tf.constant([0.5, -1.0]), w)])
    path = tf.train.Checkpoint(opt=before).write(str(tmp_path / "ckpt"))
    after = optimizers.build(cfg.replace(lr_drop_epochs="1"), 3)
    after.build([keras.Variable([0.0, 0.0])])
    tf.train.Checkpoint(opt=after).read(path).assert_consumed()
    assert int(after.iterations) == 4
    np.testing.assert_array_equal(after._momentums[0].numpy(), before._momentums[0].numpy())
    assert float(after.learning_rate) == pytest.approx(0.001)


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
    assert float(opt.momentums[0].numpy()[0]) == pytest.approx(velocity, rel=1e-6)


def _train_one_weight(make_optimizer, strategy, kernel):
    """Seven updates of one [64, 33] weight by ``make_optimizer()`` under
    ``strategy`` (asserting it counted seven): (weight, the optimizer, whether
    the traced update holds the fused ``kernel`` op)."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=(64, 33)).astype(np.float32)
    grads = rng.normal(size=(7, 64, 33)).astype(np.float32)
    with strategy.scope():
        w = keras.Variable(start)
        opt = make_optimizer()
        opt.build([w])
    # The gradient made inside the replica, as a tape makes it: a tensor
    # from outside has no device for a mirrored strategy's all-reduce.
    step = tf.function(lambda g: strategy.run(lambda: opt.apply_gradients([(tf.identity(g), w)])))
    for g in grads:
        step(tf.constant(g))
    graph = step.get_concrete_function(tf.constant(grads[0])).graph
    assert not np.allclose(w.numpy(), start)
    assert int(opt.iterations.numpy()) == 7
    return w.numpy(), opt, any(op.type == kernel for op in graph.get_operations())


# One device's copy of each variable at a time: a replica that updated
# another's copy would leave its own behind (tests/test_distribute.py checks
# two replicas).
def _mirrored():
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def test_fused_momentum_update_is_bit_identical_to_the_separate_ops(monkeypatch):
    schedule = optimizers.EpochRamp(0.5, 0.7, epochs=3, updates_per_epoch=2)

    def train(strategy):
        return _train_one_weight(
            lambda: optimizers.ScheduledMomentumSGD(
                optimizers.DecayWithFloor(0.1, 1.01, 1e-3), schedule
            ),
            strategy,
            "ResourceApplyKerasMomentum",
        )

    fused, mirrored = train(tf.distribute.get_strategy()), train(_mirrored())
    monkeypatch.setattr(optimizers, "_fusable", lambda: False)
    separate = train(tf.distribute.get_strategy())
    assert fused[2] and mirrored[2] and not separate[2]
    for other in (separate, mirrored):
        np.testing.assert_array_equal(fused[0], other[0])
        np.testing.assert_array_equal(fused[1].momentums[0], other[1].momentums[0])


@pytest.mark.parametrize("beta_1, beta_2", [(0.5, 0.999), (0.0, 0.9)])
def test_fused_adam_matches_keras_adam_to_rounding(beta_1, beta_2):
    # The fused kernel forms 1 - beta_2 in float32 (Keras: in float64), so
    # weights agree to a few float32 ulps, not bit for bit.
    def train(cls, strategy):
        decay = optimizers.DecayWithFloor(1e-2, 1.01, 1e-4)
        return _train_one_weight(
            lambda: cls(decay, beta_1=beta_1, beta_2=beta_2), strategy, "ResourceApplyAdam"
        )

    fused = train(optimizers.Adam, tf.distribute.get_strategy())
    mirrored = train(optimizers.Adam, _mirrored())
    keras_own = train(keras.optimizers.Adam, tf.distribute.get_strategy())
    assert fused[2] and mirrored[2] and not keras_own[2]
    np.testing.assert_array_equal(mirrored[0], fused[0])
    # The weights start as N(0, 1) and move by ~0.05 here; a float32 ulp at
    # their largest is 2.4e-7.
    np.testing.assert_allclose(fused[0], keras_own[0], rtol=0, atol=1e-6)
    for slots in ("_momentums", "_velocities"):
        mine, theirs = getattr(fused[1], slots)[0], getattr(keras_own[1], slots)[0]
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-9)


def _small_gan(update, d_steps=1):
    """A GAN small enough to follow by hand: no dropout, plain SGD."""
    from keras import layers

    from gan_zoo import networks

    generator = networks.mlp_generator(4, (2, 2, 1), hidden=(8,), init_limit=0.5, seed=1)
    x = keras.Input((2, 2, 1))
    h = layers.Dense(8, activation="tanh", kernel_initializer=networks.uniform_init(0.5, 2))(
        layers.Flatten()(x)
    )
    discriminator = keras.Model(
        x, layers.Dense(1, kernel_initializer=networks.uniform_init(0.5, 3))(h)
    )
    model = GAN(generator, discriminator, latent_dim=4, d_steps=d_steps, seed=5, update=update)
    model.compile(d_optimizer=keras.optimizers.SGD(0.5), g_optimizer=keras.optimizers.SGD(0.5))
    return model


def test_simultaneous_update_takes_both_gradients_from_one_pass():
    real = tf.constant(np.random.default_rng(0).uniform(size=(6, 2, 2, 1)), tf.float32)
    hand = _small_gan("simultaneous")
    z = hand.sample_noise(6)  # the twin's seed stream: the model's first draw
    d_vars, g_vars = hand.discriminator.trainable_variables, hand.generator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        fake_logits = hand.discriminator(hand.generator(z))
        real_logits = hand.discriminator(real)
        # The authors' costs: D's halved, G's non-saturating, one shared D pass.
        d_loss = 0.5 * tf.reduce_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
        g_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
    d_expected = [
        v.numpy() - 0.5 * g.numpy()
        for v, g in zip(d_vars, tape.gradient(d_loss, d_vars), strict=True)
    ]
    g_expected = [
        v.numpy() - 0.5 * g.numpy()
        for v, g in zip(g_vars, tape.gradient(g_loss, g_vars), strict=True)
    ]

    model = _small_gan("simultaneous")
    logs = model.train_step({"image": real})
    assert len(model.discriminator.trainable_variables) == len(d_expected) == 4
    assert len(model.generator.trainable_variables) == len(g_expected) == 4
    for got, want in zip(model.discriminator.trainable_variables, d_expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    for got, want in zip(model.generator.trainable_variables, g_expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    assert float(logs["d_loss"]) == pytest.approx(2 * float(d_loss), rel=1e-5)  # reported as eq. 1

    # Algorithm 1 steps G against the *updated* D on fresh noise: another G.
    alternating = _small_gan("algorithm1")
    alternating.train_step({"image": real})
    moved = max(
        np.abs(a.numpy() - b).max()
        for a, b in zip(alternating.generator.trainable_variables, g_expected, strict=True)
    )
    assert moved > 1e-4


def test_simultaneous_update_refuses_several_d_steps(tiny):
    from gan_zoo.errors import UserError

    with pytest.raises(UserError, match="takes one D step"):
        tiny(gan_update="simultaneous", d_steps=2)
    with pytest.raises(ValueError, match="one D step"):
        _small_gan("simultaneous", d_steps=2)


def test_update_rule_round_trips_through_get_config():
    clone = GAN.from_config(_small_gan("simultaneous").get_config())
    assert clone.update == "simultaneous"


def test_several_generator_steps_per_discriminator_step(tiny):
    from gan_zoo.errors import UserError

    _, model, ds = _build(tiny, g_steps=3, batch_size=4)
    assert next(iter(ds))["image"].shape[0] == 4  # G draws noise only: no extra data
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.d_optimizer.iterations) == 2
    assert int(model.g_optimizer.iterations) == 6
    # Keras' optimizer is the one that steps once per step: checkpoints count steps by it.
    assert model.optimizer is model.d_optimizer
    assert GAN.from_config(model.get_config()).g_steps == 3
    with pytest.raises(UserError, match="only one network may take several updates"):
        tiny(d_steps=2, g_steps=2)
    with pytest.raises(UserError, match="takes one D step and one G step"):
        tiny(gan_update="simultaneous", g_steps=2)

import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import losses


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_discriminator_loss_matches_equation_1_by_hand():
    real, fake = np.array([2.0, -1.0]), np.array([0.5, -3.0])
    expected = -(np.log(_sigmoid(real)) + np.log(1.0 - _sigmoid(fake)))
    got = losses.discriminator_loss(tf.constant(real), tf.constant(fake)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_generator_losses_by_hand():
    fake = np.array([1.5, -2.0, 0.0])
    np.testing.assert_allclose(
        losses.generator_loss_minimax(tf.constant(fake)).numpy(),
        np.log(1.0 - _sigmoid(fake)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.generator_loss_non_saturating(tf.constant(fake)).numpy(),
        -np.log(_sigmoid(fake)),
        rtol=1e-6,
    )


def test_losses_stay_exact_when_discriminator_saturates():
    # log(1 + e^l) for |l| = 200, where e^200 overflows float32: softplus(200) = 200 and
    # softplus(-200) = e^-200, which float32 rounds to 0.
    values = np.array([-200.0, 200.0])
    logits, softplus = tf.constant(values, tf.float32), np.logaddexp(0.0, values)
    np.testing.assert_allclose(
        losses.discriminator_loss(logits, logits).numpy(),
        softplus[::-1] + softplus,
        rtol=1e-6,
        atol=1e-30,
    )
    np.testing.assert_allclose(
        losses.generator_loss_minimax(logits).numpy(), -softplus, rtol=1e-6, atol=1e-30
    )
    np.testing.assert_allclose(
        losses.generator_loss_non_saturating(logits).numpy(), softplus[::-1], rtol=1e-6, atol=1e-30
    )


def test_non_saturating_gradient_dominates_when_d_rejects_samples():
    # D(G(z)) ~ 0.0025: early training, D confidently rejects the samples.
    logit = tf.Variable([-6.0])
    grads = {}
    for name in ("minimax", "non_saturating"):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(losses.ADVERSARIAL[name].generator(logit))
        grads[name] = abs(float(tape.gradient(loss, logit)[0]))
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> ~0; d/dl -log sigmoid(l) = sigmoid(l) - 1 -> ~-1.
    assert grads["minimax"] == pytest.approx(_sigmoid(-6.0), rel=1e-5)  # 0.0025
    assert grads["non_saturating"] == pytest.approx(1.0 - _sigmoid(-6.0), rel=1e-5)  # 0.9975


def test_both_generator_losses_decrease_as_d_is_fooled():
    low, high = tf.constant([-2.0]), tf.constant([2.0])
    for objective in losses.ADVERSARIAL.values():
        assert float(objective.generator(high)[0]) < float(objective.generator(low)[0])


def test_both_games_train_d_by_equation_1_and_the_critic_by_the_score_gap():
    real, fake = tf.constant([2.0, -1.0]), tf.constant([0.5, -3.0])
    for name in ("minimax", "non_saturating"):
        np.testing.assert_array_equal(
            losses.ADVERSARIAL[name].discriminator(real, fake).numpy(),
            losses.discriminator_loss(real, fake).numpy(),
        )
    wasserstein = losses.ADVERSARIAL["wasserstein"]
    # The critic minimises D(G(z)) - D(x); G minimises -D(G(z)).
    np.testing.assert_allclose(wasserstein.discriminator(real, fake).numpy(), [-1.5, -2.0])
    np.testing.assert_allclose(wasserstein.generator(fake).numpy(), [-0.5, 3.0])
    assert set(wasserstein.served(fake)) == {"score"}
    assert set(losses.ADVERSARIAL["minimax"].served(fake)) == {"probability", "logit"}


def test_gradient_penalty_of_a_linear_critic_is_its_slopes_distance_from_1():
    # D(x) = sum(a * x): grad D = a everywhere, so the penalty is (||a|| - 1)^2
    # at every interpolate, whatever u.
    a = tf.constant(np.full((1, 2, 2, 1), 0.75, np.float32))  # ||a|| = 1.5
    real = tf.random.stateless_normal((3, 2, 2, 1), [1, 2])
    fake = tf.random.stateless_normal((3, 2, 2, 1), [3, 4])
    penalty = losses.gradient_penalty(
        lambda x: tf.reduce_sum(a * x, axis=[1, 2, 3]), real, fake, tf.constant([0.0, 0.3, 1.0])
    )
    np.testing.assert_allclose(penalty.numpy(), [0.25] * 3, rtol=1e-5)
    # A 1-Lipschitz critic with unit slope pays nothing; the penalty is taken
    # at u * real + (1 - u) * fake: here |x|'s slope is 1 on either side.
    unit = losses.gradient_penalty(
        lambda x: tf.reduce_sum(tf.abs(x), axis=[1, 2, 3]) / 2.0,
        real,
        fake,
        tf.constant([0.2, 0.5, 0.9]),
    )
    np.testing.assert_allclose(unit.numpy(), [0.0] * 3, atol=1e-5)


def test_average_is_the_mean_under_the_default_strategy():
    assert float(losses.average(tf.constant([1.0, 2.0, 6.0]))) == 3.0


# ----- autoencoders ------------------------------------------------------------


def test_reconstruction_losses_per_example_mean_over_pixels():
    x = tf.constant([[[[1.0]], [[0.0]]]])  # one example, two pixels
    r = tf.constant([[[[0.8]], [[0.3]]]])
    bce = -(np.log(0.8) + np.log(0.7)) / 2
    assert float(losses.reconstruction_loss(x, r, "bce")[0]) == pytest.approx(bce, rel=1e-5)
    assert float(losses.reconstruction_loss(x, r, "mse")[0]) == pytest.approx(
        (0.04 + 0.09) / 2, rel=1e-5
    )
    # The Bernoulli likelihood is the same cross-entropy summed: nats per image.
    assert float(losses.bernoulli_nll(x, r)[0]) == pytest.approx(2 * bce, rel=1e-5)


def test_gaussian_nll_is_the_normal_log_density():
    x = tf.constant([[0.2, 0.9]])
    mu = tf.constant([[0.0, 1.0]])
    log_scale = tf.constant(np.log(0.5), tf.float32)
    expected = -(
        np.log(np.exp(-0.5 * (0.2 / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi)))
        + np.log(np.exp(-0.5 * (0.1 / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi)))
    )
    assert float(losses.gaussian_nll(x, mu, log_scale)[0]) == pytest.approx(expected, rel=1e-5)


def test_gaussian_kl_against_hand_computed_values():
    # Zero for the standard normal itself.
    assert float(losses.gaussian_kl(tf.zeros((1, 3)), tf.zeros((1, 3)))[0]) == 0.0
    # 1-D: KL(N(1, 4) || N(0, 1)) = 0.5 (4 + 1 - 1 - log 4).
    kl = losses.gaussian_kl(tf.constant([[1.0]]), tf.constant([[np.log(4.0)]], tf.float32))
    assert float(kl[0]) == pytest.approx(0.5 * (4 + 1 - 1 - np.log(4)), rel=1e-5)
    # Dimensions add up.
    two = losses.gaussian_kl(
        tf.constant([[1.0, 1.0]]), tf.constant([[np.log(4.0)] * 2], tf.float32)
    )
    assert float(two[0]) == pytest.approx(2 * float(kl[0]), rel=1e-6)


def test_gradient_penalty_trains_the_critics_weights_through_its_input_gradient():
    # D(x) = sum(a * x): the penalty (||a|| - 1)^2 has d/da = 2 (||a|| - 1) a / ||a||,
    # which only a second derivative through the input gradient can give.
    a = tf.Variable(np.full((1, 2, 2, 1), 0.75, np.float32))
    real = tf.random.stateless_normal((3, 2, 2, 1), [1, 2])
    fake = tf.random.stateless_normal((3, 2, 2, 1), [3, 4])
    with tf.GradientTape() as tape:
        penalty = tf.reduce_mean(
            losses.gradient_penalty(
                lambda x: tf.reduce_sum(a * x, axis=[1, 2, 3]), real, fake, tf.constant([0.5] * 3)
            )
        )
    norm = 1.5
    np.testing.assert_allclose(
        tape.gradient(penalty, a).numpy(), 2 * (norm - 1) * a.numpy() / norm, rtol=1e-5
    )


def test_cluster_head_cost_value_and_gradient_by_hand():
    # Three heads, eta = 4.5: w0-w1 are 5 apart (no cost), w0-w2 1 apart (3.5),
    # w1-w2 sqrt(18) apart (4.5 - sqrt(18)). Each pair closer than eta adds
    # eta - |w_i - w_j|, whose gradient is -(w_i - w_j) / |w_i - w_j| for w_i.
    heads = tf.Variable([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    with tf.GradientTape() as tape:
        cost = losses.cluster_head_cost(heads, 4.5)
    root18 = np.sqrt(18.0)
    assert float(cost) == pytest.approx(3.5 + 4.5 - root18, rel=1e-6)
    expected = np.array(
        [
            [0.0, 1.0],  # pushed from w2, away along +y
            [-3.0 / root18, -3.0 / root18],  # from w2 only: w0 is 5 >= eta away
            [3.0 / root18, -1.0 + 3.0 / root18],  # from both
        ]
    )
    np.testing.assert_allclose(tape.gradient(cost, heads).numpy(), expected, rtol=1e-5, atol=1e-6)
    # Heads that coincide (at the start, or by accident) get a finite gradient.
    with tf.GradientTape() as tape:
        cost = losses.cluster_head_cost(tf.zeros((3, 2)) + 0 * heads, 1.0)
    assert float(cost) == pytest.approx(3.0, rel=1e-5)
    assert np.all(np.isfinite(tape.gradient(cost, heads).numpy()))


def test_monte_carlo_kl_averages_to_the_analytic_kl_of_a_gaussian_prior():
    from gan_zoo import priors

    rng = np.random.default_rng(0)
    n, mean, log_var = 200_000, np.array([[0.7, -1.2]]), np.log(np.array([[0.3, 2.0]]))
    z = mean + np.exp(0.5 * log_var) * rng.standard_normal((n, 2))
    tiled = [tf.constant(np.repeat(v, n, 0), tf.float32) for v in (mean, log_var)]
    estimates = losses.monte_carlo_kl(
        tf.constant(z, tf.float32), *tiled, priors.Gaussian().log_prob
    ).numpy()
    analytic = float(losses.gaussian_kl(tf.constant(mean), tf.constant(log_var))[0])
    # Unbiased: the mean of n estimates is within 4 standard errors of the
    # truth but for a chance of 6e-5 (and the seed is fixed).
    error = 4 * estimates.std() / np.sqrt(n)
    assert abs(estimates.mean() - analytic) < error
    assert error < 0.02 * analytic  # a test that could tell a 2 % bias


def test_monte_carlo_kl_of_the_mixture_prior_matches_a_numerical_integral():
    from gan_zoo import priors

    prior = priors.MixtureGaussian()
    mean, std = np.array([0.9, 0.6]), np.array([0.25, 0.35])
    # KL = integral of q (log q - log p) over mean +- 8 std, midpoint rule on a
    # grid 0.004 apart: fine beside the mixture's narrowest width (0.05).
    axes = [np.linspace(m - 8 * s, m + 8 * s, 801) for m, s in zip(mean, std, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    cell = np.prod([a[1] - a[0] for a in axes])
    log_q = -0.5 * np.sum(((grid - mean) / std) ** 2 + np.log(2 * np.pi * std**2), axis=1)
    log_p = np.concatenate(
        [prior.log_prob(grid[i : i + 100_000]).numpy() for i in range(0, len(grid), 100_000)]
    )
    integral = np.sum(np.exp(log_q) * (log_q - log_p)) * cell

    rng = np.random.default_rng(1)
    n = 200_000
    z = mean + std * rng.standard_normal((n, 2))
    tiled = [tf.constant(np.tile(v, (n, 1)), tf.float32) for v in (mean, 2 * np.log(std))]
    estimates = losses.monte_carlo_kl(tf.constant(z, tf.float32), *tiled, prior.log_prob).numpy()
    assert abs(estimates.mean() - integral) < 4 * estimates.std() / np.sqrt(n)

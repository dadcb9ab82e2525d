import numpy as np
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
    np.testing.assert_allclose(losses.generator_loss_minimax(tf.constant(fake)).numpy(),
                               np.log(1.0 - _sigmoid(fake)), rtol=1e-6)
    np.testing.assert_allclose(losses.generator_loss_non_saturating(tf.constant(fake)).numpy(),
                               -np.log(_sigmoid(fake)), rtol=1e-6)


def test_losses_stay_finite_when_discriminator_saturates():
    logits = tf.constant([-200.0, 200.0])
    for value in (losses.discriminator_loss(logits, logits),
                  losses.generator_loss_minimax(logits),
                  losses.generator_loss_non_saturating(logits)):
        assert np.all(np.isfinite(value.numpy()))


def test_non_saturating_gradient_dominates_when_d_rejects_samples():
    # D(G(z)) ~ 0.0025: early training, D confidently rejects the samples.
    logit = tf.Variable([-6.0])
    grads = {}
    for name, fn in losses.GENERATOR_LOSSES.items():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fn(logit))
        grads[name] = abs(float(tape.gradient(loss, logit)[0]))
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> ~0; d/dl -log sigmoid(l) = sigmoid(l) - 1 -> ~-1.
    assert grads["minimax"] < 0.01
    assert grads["non_saturating"] > 0.99
    assert grads["non_saturating"] > 100 * grads["minimax"]


def test_both_generator_losses_decrease_as_d_is_fooled():
    low, high = tf.constant([-2.0]), tf.constant([2.0])
    for fn in losses.GENERATOR_LOSSES.values():
        assert float(fn(high)[0]) < float(fn(low)[0])


def test_average_is_the_mean_under_the_default_strategy():
    assert float(losses.average(tf.constant([1.0, 2.0, 6.0]))) == 3.0

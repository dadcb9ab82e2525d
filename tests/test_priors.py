"""Priors: sampling paths, supports, per-label parts and normalised log-densities."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import priors
from gan_zoo.errors import UserError

NAMES = sorted(priors.TARGETS)
K = 10


def make(name, dim=2):
    return priors.target(name, dim, num_classes=K)


def nearest_curve_u(roll, z, grid=10_000):
    """u of the nearest point of the (noise-free) spiral to each row of z, and its distance."""
    u = (np.arange(grid) + 0.5) / grid
    curve = roll.curve(u).numpy()
    dist2 = ((z[:, None, :] - curve[None]) ** 2).sum(-1)
    best = dist2.argmin(1)
    return u[best], np.sqrt(dist2[np.arange(len(z)), best])


def grid_mass(prior, half_width, step):
    """Midpoint-rule integral of exp(log_prob) over [-half_width, half_width]^2."""
    axis = np.arange(-half_width, half_width, step) + step / 2
    x, y = np.meshgrid(axis, axis)
    points = np.stack([x.ravel(), y.ravel()], 1).astype(np.float32)
    return float(np.exp(prior.log_prob(points).numpy().astype(np.float64)).sum() * step * step)


# ----- registry ---------------------------------------------------------------


def test_registry_names_and_attributes():
    assert set(priors.TARGETS) == {"gaussian", "mixture_gaussian", "swiss_roll", "uniform"}
    assert make("mixture_gaussian").num_components == K
    assert make("mixture_gaussian").num_classes == K
    assert priors.target("swiss_roll", 2, num_classes=4).num_classes == 4
    assert make("gaussian", 8).dim == 8 and make("uniform", 3).dim == 3
    assert isinstance(make("uniform"), priors.Uniform)
    assert isinstance(make("gaussian"), priors.Gaussian)


def test_unknown_name_lists_choices():
    with pytest.raises(UserError, match="mixture_gaussian.*swiss_roll"):
        priors.target("cauchy", 2)


@pytest.mark.parametrize("name", ["mixture_gaussian", "swiss_roll"])
def test_two_dimensional_priors_reject_other_dims(name):
    with pytest.raises(UserError, match="2-D"):
        priors.target(name, 3)


def test_existing_noise_priors_keep_working():
    uniform = priors.noise("uniform")
    assert uniform.limit == pytest.approx(math.sqrt(3.0))
    z = uniform.stateless_sample((500, 4), tf.constant([1, 2])).numpy()
    assert np.abs(z).max() <= math.sqrt(3.0) and np.abs(z).max() > 1.5
    gen = keras.random.SeedGenerator(0)
    assert priors.noise("gaussian").sample((3, 5), gen).shape == (3, 5)
    assert np.abs(priors.Uniform(1.0).sample((100, 2), gen).numpy()).max() <= 1.0
    with pytest.raises(UserError, match="uniform, gaussian"):
        priors.noise("laplace")


# ----- sampling paths -----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_sampling_path_shape_and_dtype(name):
    prior = make(name)
    gen = keras.random.SeedGenerator(3)
    labels = tf.constant([0, 3, 9, 9, 1], tf.int64)
    outputs = [
        prior.sample((7, 2), gen),
        prior.stateless_sample((7, 2), tf.constant([1, 2], tf.int32)),
        prior.stateless_sample(tf.stack([7, 2]), tf.constant([1, 2], tf.int64)),
        prior.sample_for_labels(labels, gen),
        prior.stateless_sample_for_labels(labels, tf.constant([4, 5], tf.int64)),
    ]
    for z, rows in zip(outputs, [7, 7, 7, 5, 5], strict=True):
        assert z.dtype == tf.float32 and tuple(z.shape) == (rows, 2)
    assert tuple(prior.stateless_sample((2, 3, 2), tf.constant([1, 2])).shape) == (2, 3, 2)

    @tf.function
    def in_graph(n, labels):
        # As the AAE's train step and export call them: symbolic batch sizes.
        return (
            prior.sample((n, 2), gen),
            prior.sample_for_labels(labels, gen),
            prior.stateless_sample(tf.stack([n, 2]), tf.stack([tf.constant(9, tf.int64), 0])),
        )

    for z in in_graph(tf.constant(6), tf.constant([2, 2, 0], tf.int32)):
        assert z.dtype == tf.float32 and z.shape[-1] == 2
    log_p = prior.log_prob(outputs[0])
    assert log_p.dtype == tf.float32 and tuple(log_p.shape) == (7,)
    assert np.isfinite(log_p.numpy()).all()


@pytest.mark.parametrize("name", NAMES)
def test_stateless_is_deterministic_and_generator_advances(name):
    prior = make(name)
    labels = tf.range(20) % K
    seed, other = tf.constant([7, 1]), tf.constant([8, 1])
    np.testing.assert_array_equal(
        prior.stateless_sample((20, 2), seed), prior.stateless_sample((20, 2), seed)
    )
    np.testing.assert_array_equal(
        prior.stateless_sample_for_labels(labels, seed),
        prior.stateless_sample_for_labels(labels, seed),
    )
    assert not np.allclose(
        prior.stateless_sample((20, 2), seed), prior.stateless_sample((20, 2), other)
    )
    gen = keras.random.SeedGenerator(0)
    assert not np.allclose(prior.sample((20, 2), gen), prior.sample((20, 2), gen))
    assert not np.allclose(
        prior.sample_for_labels(labels, gen), prior.sample_for_labels(labels, gen)
    )


def test_gaussian_and_uniform_ignore_labels():
    labels = tf.constant([0, 1, 2, 3])
    for name in ("gaussian", "uniform"):
        prior, seed = make(name, 5), tf.constant([3, 3])
        np.testing.assert_array_equal(
            prior.stateless_sample_for_labels(labels, seed), prior.stateless_sample((4, 5), seed)
        )


# ----- supports and label parts ---------------------------------------------


def test_uniform_support():
    prior = priors.target("uniform", 3)
    z = prior.sample((2000, 3), keras.random.SeedGenerator(1)).numpy()
    assert np.abs(z).max() <= prior.limit
    log_p = prior.log_prob(np.array([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]], np.float32)).numpy()
    assert log_p[0] == pytest.approx(-3 * math.log(2 * math.sqrt(3.0)), rel=1e-6)
    assert log_p[1] == -np.inf


def test_mixture_samples_near_their_means_and_in_their_component():
    prior = make("mixture_gaussian")
    labels = np.arange(3000) % K
    z = prior.stateless_sample_for_labels(tf.constant(labels), tf.constant([0, 1])).numpy()
    means = prior.means.numpy()
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), prior.shift, rtol=1e-5)
    # The radial std is the larger one, so no point strays much further.
    assert np.linalg.norm(z - means[labels], axis=1).max() < 5 * prior.radial_std
    nearest = np.linalg.norm(z[:, None] - means[None], axis=-1).argmin(1)
    assert (nearest == labels).mean() >= 0.95
    # Across its ray a component spreads only by the small tangential std.
    direction = means[labels] / prior.shift
    across = z[:, 0] * direction[:, 1] - z[:, 1] * direction[:, 0]
    assert np.abs(across).max() < 5 * prior.tangential_std


def test_mixture_unconditional_uses_all_components_equally():
    prior = make("mixture_gaussian")
    z = prior.sample((5000, 2), keras.random.SeedGenerator(2)).numpy()
    nearest = np.linalg.norm(z[:, None] - prior.means.numpy()[None], axis=-1).argmin(1)
    counts = np.bincount(nearest, minlength=K) / len(z)
    assert np.abs(counts - 1 / K).max() < 0.03


def test_swiss_roll_samples_near_curve_and_in_their_segment():
    prior = make("swiss_roll")
    labels = np.arange(1000) % K
    z = prior.sample_for_labels(tf.constant(labels), keras.random.SeedGenerator(4)).numpy()
    u, dist = nearest_curve_u(prior, z)
    assert dist.max() < 5 * prior.noise_std
    segment = np.minimum((u * K).astype(int), K - 1)
    assert (segment == labels).mean() >= 0.90
    unconditional = prior.stateless_sample((1000, 2), tf.constant([5, 5])).numpy()
    u, dist = nearest_curve_u(prior, unconditional)
    assert dist.max() < 5 * prior.noise_std
    assert np.abs(np.bincount((u * K).astype(int), minlength=K) / 1000 - 1 / K).max() < 0.04


# ----- log-densities --------------------------------------------------------


def test_gaussian_log_prob_closed_form():
    prior = priors.target("gaussian", 5)
    z = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
    expected = -0.5 * (z.astype(np.float64) ** 2).sum(1) - 2.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(prior.log_prob(z).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "name, half_width, step",
    [
        ("gaussian", 7.0, 0.05),
        ("uniform", 2.0, 0.01),
        ("mixture_gaussian", 4.5, 0.02),
        ("swiss_roll", 3.7, 0.05),
    ],
)
def test_density_integrates_to_one(name, half_width, step):
    assert grid_mass(make(name), half_width, step) == pytest.approx(1.0, abs=0.02)


def test_mixture_log_prob_matches_direct_sum():
    prior = make("mixture_gaussian")
    z = np.array([[1.4, 0.0], [0.3, -0.7], [-2.0, 1.0]])
    total = np.zeros(len(z))
    for k in range(K):
        angle = 2 * np.pi * k / K
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        cov = rot @ np.diag([prior.radial_std**2, prior.tangential_std**2]) @ rot.T
        d = z - rot @ np.array([prior.shift, 0.0])
        quad = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
        total += np.exp(-0.5 * quad) / (2 * np.pi * np.sqrt(np.linalg.det(cov))) / K
    np.testing.assert_allclose(
        prior.log_prob(z.astype(np.float32)).numpy(), np.log(total), rtol=1e-4
    )


# ----- the categorical prior of the semi-supervised / clustering AAE ------------


def test_categorical_samples_are_one_hot_and_balanced():
    prior = priors.Categorical(4)
    draws = [
        prior.sample((4000, 4), keras.random.SeedGenerator(1)).numpy(),
        prior.stateless_sample(tf.constant([4000, 4]), tf.constant([3, 4])).numpy(),
    ]
    for z in draws:
        assert z.shape == (4000, 4)
        assert set(np.unique(z)) == {0.0, 1.0} and np.all(z.sum(1) == 1.0)
        np.testing.assert_allclose(z.mean(0), 0.25, atol=0.03)
    fixed = prior.sample_for_labels(tf.constant([2, 0]), keras.random.SeedGenerator(0)).numpy()
    np.testing.assert_array_equal(fixed, [[0, 0, 1, 0], [1, 0, 0, 0]])


def test_categorical_mass_is_on_one_hot_vectors_only():
    logp = (
        priors.Categorical(4)
        .log_prob(tf.constant([[0, 1, 0, 0], [0.5, 0.5, 0, 0], [1, 1, 0, 0]], tf.float32))
        .numpy()
    )
    assert logp[0] == pytest.approx(-math.log(4))
    assert np.all(np.isneginf(logp[1:]))

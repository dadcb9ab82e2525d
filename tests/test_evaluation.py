"""Error rates of categorical codes, on hand-made cases."""

import numpy as np
import pytest

from gan_zoo.evaluation import classification


def test_classification_error_counts_mismatches():
    assert classification.classification_error([0, 1, 2, 2], [0, 1, 1, 0]) == 0.5
    with pytest.raises(ValueError, match="equally many"):
        classification.classification_error([0, 1], [0])


def test_each_cluster_takes_its_majority_label():
    clusters = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    labels = [7, 7, 3, 5, 5, 1, 1, 1, 4]
    np.testing.assert_array_equal(classification.cluster_labels(clusters, labels, 4),
                                  [7, 5, 1, -1])  # cluster 3 is empty
    # Wrong: the 3 in cluster 0 and the 4 in cluster 2.
    assert classification.cluster_error(clusters, labels, 4) == pytest.approx(2 / 9)


def test_several_clusters_may_share_a_label_and_ties_go_low():
    # 16 clusters for 10 digits: two clusters of 1s are both right.
    assert classification.cluster_error([0, 0, 1, 1], [1, 1, 1, 1], 16) == 0.0
    assert list(classification.cluster_labels([0, 0], [6, 2], 1)) == [2]


def test_perfect_clusters_under_any_naming_score_zero():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    permuted = rng.permutation(10)[labels]
    assert classification.cluster_error(permuted, labels, 10) == 0.0


# ----- Parzen windows ------------------------------------------------------------------

from gan_zoo.evaluation import parzen  # noqa: E402


def test_parzen_of_gaussian_samples_matches_the_analytic_expectation():
    # Samples ~ N(0, tau^2 I); the Parzen window with width sigma is then,
    # for many samples, N(0, (tau^2 + sigma^2) I), whose expected
    # log-density at x ~ N(0, tau^2 I) is known in closed form.
    rng = np.random.default_rng(0)
    d, tau, sigma = 3, 1.0, 0.5
    samples = rng.normal(0, tau, (20000, d))
    test = rng.normal(0, tau, (4000, d))
    var = tau ** 2 + sigma ** 2
    expected = -0.5 * d * np.log(2 * np.pi * var) - 0.5 * d * tau ** 2 / var
    got = parzen.log_likelihood(samples, test, sigma)
    assert got.mean() == pytest.approx(expected, abs=0.05)


def test_parzen_matches_a_direct_computation_and_is_stable_far_away():
    rng = np.random.default_rng(1)
    samples, data = rng.random((50, 5)), rng.random((7, 5))
    sigma = 0.2
    direct = np.log(np.mean(np.exp(
        -((data[:, None] - samples[None]) ** 2).sum(-1) / (2 * sigma ** 2)), axis=1)
    ) - 0.5 * 5 * np.log(2 * np.pi * sigma ** 2)
    got = parzen.log_likelihood(samples, data, sigma, batch_size=3)
    np.testing.assert_allclose(got, direct, rtol=1e-9)
    # A point 100 units from one centre: exp() of its exponent underflows to 0,
    # the log-sum-exp still gives the exact log-density.
    far = parzen.log_likelihood(np.zeros((1, 784)), np.full((1, 784), 100 / 28.0), 0.1)
    expected = -100.0 ** 2 / (2 * 0.01) - 0.5 * 784 * np.log(2 * np.pi * 0.01)
    assert far[0] == pytest.approx(expected, rel=1e-9)


def test_sigma_selection_picks_the_true_width():
    # Validation and test points are centres plus N(0, s0^2) noise: the
    # Parzen window of the centres with width s0 is the true density.
    rng = np.random.default_rng(2)
    centres = rng.random((300, 10)) * 4
    true = parzen.SIGMAS[4]
    pick = rng.integers(0, 300, 3000)
    validation = centres[pick] + rng.normal(0, true, (3000, 10))
    sigma, scores = parzen.select_sigma(centres, validation)
    assert sigma == pytest.approx(true) and len(scores) == 10
    result = parzen.parzen_score(centres, validation, validation[:1000])
    assert result["sigma"] == pytest.approx(true)
    assert result["std_error"] > 0 and result["num_test"] == 1000

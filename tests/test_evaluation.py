"""Error rates of categorical codes, on hand-made cases."""

import numpy as np
import pytest

from gan_zoo import label_errors


def test_classification_error_counts_mismatches():
    assert label_errors.classification_error([0, 1, 2, 2], [0, 1, 1, 0]) == 0.5
    with pytest.raises(ValueError, match="equally many"):
        label_errors.classification_error([0, 1], [0])


def test_each_cluster_takes_its_majority_label():
    clusters = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    labels = [7, 7, 3, 5, 5, 1, 1, 1, 4]
    np.testing.assert_array_equal(
        label_errors.cluster_labels(clusters, labels, 4), [7, 5, 1, -1]
    )  # cluster 3 is empty
    # Wrong: the 3 in cluster 0 and the 4 in cluster 2.
    assert label_errors.cluster_error(clusters, labels, 4) == pytest.approx(2 / 9)


def test_several_clusters_may_share_a_label_and_ties_go_low():
    # 16 clusters for 10 digits: two clusters of 1s are both right.
    assert label_errors.cluster_error([0, 0, 1, 1], [1, 1, 1, 1], 16) == 0.0
    assert list(label_errors.cluster_labels([0, 0], [6, 2], 1)) == [2]


def test_perfect_clusters_under_any_naming_score_zero():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    permuted = rng.permutation(10)[labels]
    assert label_errors.cluster_error(permuted, labels, 10) == 0.0


def test_error_by_class_and_top_confusions_say_where_the_mistakes_are():
    labels = [4, 4, 4, 4, 9, 9, 7, 7, 0, 2]
    predicted = [4, 9, 9, 7, 4, 9, 7, 7, 0, 2]  # 4 -> 9 twice, 4 -> 7 once, 9 -> 4 once
    by_class = label_errors.error_by_class(predicted, labels)
    assert len(by_class) == 10 and by_class[1] is None  # no 1s at all
    assert by_class[4] == pytest.approx(0.75) and by_class[9] == pytest.approx(0.5)
    assert by_class[0] == by_class[2] == by_class[7] == 0.0
    assert label_errors.top_confusions(predicted, labels, n=2) == [
        {"true": 4, "predicted": 9, "share": pytest.approx(0.2)},
        {"true": 4, "predicted": 7, "share": pytest.approx(0.1)},  # ties: smaller true label
    ]
    assert label_errors.top_confusions(labels, labels) == []


def test_equal_size_floor_of_ten_balanced_digits_in_16_clusters():
    # 16 clusters of 625 for 10 digits of 1,000: six digits fill two clusters
    # each (1,000 right), four get one (625 right); 1 - 8,500 / 10,000.
    assert label_errors.equal_size_floor([1000] * 10, 16) == pytest.approx(0.15)
    assert label_errors.equal_size_floor([1000] * 10, 30) == 0.0
    assert label_errors.equal_size_floor([1000] * 10, 5) == pytest.approx(0.5)


def test_equal_size_floor_is_the_best_naming_of_equal_clusters():
    import itertools

    rng = np.random.default_rng(1)
    for _ in range(20):
        counts = rng.integers(1, 40, rng.integers(2, 5))
        k = int(rng.integers(1, 7))
        capacity = counts.sum() / k
        best = max(
            np.minimum(counts, np.bincount(named, minlength=len(counts)) * capacity).sum()
            for named in itertools.combinations_with_replacement(range(len(counts)), k)
        )
        assert label_errors.equal_size_floor(counts, k) == pytest.approx(1 - best / counts.sum())


def test_no_equal_size_clustering_beats_the_floor_and_one_reaches_it():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], [6, 4, 2])  # 12 points, 3 clusters of 4
    floor = label_errors.equal_size_floor(np.bincount(labels), 3)
    for _ in range(200):
        clusters = rng.permutation(np.repeat(np.arange(3), 4))
        assert label_errors.cluster_error(clusters, labels, 3) >= floor - 1e-12
    # Class 0 fills a cluster, its other two share one with the 2s; the 1s fill the third.
    reached = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 1, 1])
    assert label_errors.cluster_error(reached, labels, 3) == pytest.approx(floor)
    with pytest.raises(ValueError, match="need >= 1 cluster"):
        label_errors.equal_size_floor([3, 4], 0)


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
    var = tau**2 + sigma**2
    expected = -0.5 * d * np.log(2 * np.pi * var) - 0.5 * d * tau**2 / var
    got = parzen.log_likelihood(samples, test, sigma)
    assert got.mean() == pytest.approx(expected, abs=0.05)


def test_parzen_matches_a_direct_computation_and_is_stable_far_away():
    rng = np.random.default_rng(1)
    samples, data = rng.random((50, 5)), rng.random((7, 5))
    sigma = 0.2
    direct = np.log(
        np.mean(np.exp(-((data[:, None] - samples[None]) ** 2).sum(-1) / (2 * sigma**2)), axis=1)
    ) - 0.5 * 5 * np.log(2 * np.pi * sigma**2)
    got = parzen.log_likelihood(samples, data, sigma, batch_size=3)
    np.testing.assert_allclose(got, direct, rtol=1e-9)
    # A point 100 units from one centre: exp() of its exponent underflows to 0,
    # the log-sum-exp still gives the exact log-density.
    far = parzen.log_likelihood(np.zeros((1, 784)), np.full((1, 784), 100 / 28.0), 0.1)
    expected = -(100.0**2) / (2 * 0.01) - 0.5 * 784 * np.log(2 * np.pi * 0.01)
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
    # The standard error of the mean of the test points' log-densities, by hand.
    density = np.exp(-((validation[:1000, None] - centres[None]) ** 2).sum(-1) / (2 * true**2))
    ll = np.log(density.mean(1)) - 0.5 * 10 * np.log(2 * np.pi * true**2)
    assert result["mean"] == pytest.approx(ll.mean(), rel=1e-9)
    assert result["std_error"] == pytest.approx(ll.std() / np.sqrt(1000), rel=1e-9)
    assert result["num_test"] == 1000


# ----- FID, KID, scores -------------------------------------------------------------

from gan_zoo.errors import UserError  # noqa: E402
from gan_zoo.evaluation import features, scores  # noqa: E402


def test_frechet_distance_closed_forms():
    # Diagonal (commuting) covariances: |m1 - m2|^2 + sum (s1 - s2)^2.
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    expected = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
    got = scores.frechet_distance(m1, np.diag(s1**2), m2, np.diag(s2**2))
    assert got == pytest.approx(expected, rel=1e-10)
    # A rotated pair, where C1 C2 is not symmetric: the distance is rotation-invariant.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c1, c2 = q @ np.diag(s1**2) @ q.T, q @ np.diag(s2**2) @ q.T
    assert scores.frechet_distance(q @ m1, c1, q @ m2, c2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_samples():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (5000, 4))
    assert scores.fid(a, a) == pytest.approx(0.0, abs=1e-8)
    b = rng.normal(0.5, 2.0, (200000, 4))
    # Population: N(0, I) vs N(0.5, 4 I): 4 * 0.25 + 4 * (1 - 2)^2 = 5.
    assert scores.fid(rng.normal(0, 1, (200000, 4)), b) == pytest.approx(5.0, rel=0.02)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0, 1, (3000, 8)), rng.normal(0, 1, (3000, 8))
    same, spread = scores.kid(x, y, subsets=20, subset_size=500)
    assert abs(same) < 3 * spread + 1e-3
    shifted, _ = scores.kid(x, y + 0.5, subsets=20, subset_size=500)
    assert shifted > 10 * max(abs(same), spread)


def test_inception_score_and_mode_coverage_extremes():
    confident = np.eye(10)[np.arange(1000) % 10]
    assert scores.inception_score(confident)[0] == pytest.approx(10.0, rel=1e-6)
    collapsed = np.eye(10)[np.zeros(1000, int)]
    assert scores.inception_score(collapsed)[0] == pytest.approx(1.0, rel=1e-6)
    coverage = scores.mode_coverage(np.eye(10)[np.r_[np.zeros(900, int), np.ones(100, int)]])
    assert coverage["modes_covered"] == 2 and coverage["class_shares"][:2] == [0.9, 0.1]


def test_inception_needs_its_weights_file():
    with pytest.raises(UserError, match="--inception_weights"):
        features.extractor("inception")
    with pytest.raises(UserError, match="is not a file"):
        features.extractor("inception", "/nonexistent/inception.h5")
    with pytest.raises(UserError, match="choose one of"):
        features.extractor("vgg")


def test_inception_preprocessing():
    images = np.zeros((2, 28, 28, 1), np.float32)
    images[:, :14] = 1.0
    x = features.inception_inputs(images).numpy()
    assert x.shape == (2, 299, 299, 3)
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])


def test_shipped_classifier_knows_the_embedded_digits():
    from gan_zoo.datasets import digits
    from gan_zoo.evaluation.classifier import MnistClassifier

    images, labels = digits.load().arrays("test")
    feats, probs = MnistClassifier()(images.astype(np.float32) / 255.0)
    assert feats.shape == (1000, 64) and probs.shape == (1000, 10)
    assert np.mean(probs.argmax(1) == labels) > 0.98
    with pytest.raises(UserError, match="28x28x1"):
        MnistClassifier()(np.zeros((2, 32, 32, 1), np.float32))


def test_classifier_command_trains_to_high_accuracy_on_the_embedded_digits(tmp_path):
    from conftest import run_script

    out = tmp_path / "c.weights.h5"
    result = run_script(
        "-m", "gan_zoo.train_classifier", "--dataset=digits", "--epochs=1", f"--out={out}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = float(result.stdout.split("Test accuracy ")[1].split()[0])
    # One pass over the embedded training digits (the command's default is
    # 6) reads 92-93 % of the test digits right (seeds 0, 1); chance is 10 %.
    assert accuracy > 0.9 and out.stat().st_size < 1_000_000

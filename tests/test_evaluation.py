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

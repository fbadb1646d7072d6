"""The population stability index on known distributions."""

import numpy as np

from app.drift import psi, psi_by_feature


def test_the_same_distribution_scores_zero() -> None:
    values = list(np.random.default_rng(1).normal(40, 10, 2_000))
    assert psi(values, values) == 0.0


def test_a_fresh_sample_of_the_same_distribution_stays_stable() -> None:
    rng = np.random.default_rng(2)
    assert psi(list(rng.normal(40, 10, 2_000)), list(rng.normal(40, 10, 1_000))) < 0.1


def test_a_shifted_distribution_scores_high() -> None:
    rng = np.random.default_rng(3)
    assert psi(list(rng.normal(40, 10, 2_000)), list(rng.normal(60, 10, 1_000))) > 1


def test_values_outside_the_training_range_fall_into_the_end_bins() -> None:
    training = [float(v) for v in range(18, 61)]
    assert psi(training, [200.0] * 100) > 1  # all in the top bin, finite


def test_no_recent_inputs_means_no_drift_figure_of_consequence() -> None:
    assert psi([1.0, 2.0, 3.0], []) == 0.0


def test_per_feature() -> None:
    training = [(30.0, 50_000.0), (40.0, 60_000.0), (50.0, 70_000.0)] * 50
    recent = [(30.0, 150_000.0), (40.0, 160_000.0), (50.0, 170_000.0)] * 50
    figures = psi_by_feature(training, recent)
    assert figures["age"] == 0.0 and figures["salary"] > 1

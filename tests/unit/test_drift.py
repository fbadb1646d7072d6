"""The population stability index on known distributions."""

import numpy as np

from app.domain.drift import MIN_ROWS, categorical_psi, psi, psi_by_feature, verdict
from app.domain.features import FEATURES


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


def test_categories_are_bins() -> None:
    training = ["Male"] * 50 + ["Female"] * 50
    assert categorical_psi(training, ["Female", "Male"] * 20) == 0.0
    assert categorical_psi(training, ["Female"] * 40) > 1


def test_per_input_missing_values_left_out() -> None:
    features = FEATURES.select(["age", "salary", "gender"])
    training = [{"age": a, "salary": s, "gender": g}
                for a, s, g in ((30.0, 50_000.0, "Male"), (40.0, 60_000.0, "Female"),
                                (50.0, 70_000.0, None))] * 50
    recent = [{"age": a, "salary": s + 100_000, "gender": None}
              for a, s, _ in ((30.0, 50_000.0, 0), (40.0, 60_000.0, 0), (50.0, 70_000.0, 0))] * 50
    figures = psi_by_feature(features, training, recent)
    assert figures == {"age": 0.0, "salary": figures["salary"], "gender": 0.0}
    assert figures["salary"] > 1


def test_the_verdict_needs_enough_rows() -> None:
    assert verdict(MIN_ROWS - 1, {"age": 7.0}) == "not enough data yet"
    assert verdict(MIN_ROWS, {"age": 0.05, "salary": 0.02}) == "stable"
    assert verdict(MIN_ROWS, {"age": 0.05, "salary": 0.2}) == "moderate shift"
    assert verdict(MIN_ROWS, {"age": 0.3}) == "shifted"

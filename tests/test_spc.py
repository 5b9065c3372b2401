"""SPC rules against hand-worked sequences (standardised values: centre 0, sigma 1)."""

import numpy as np
import pytest

from app.detectors.spc import RULES, SpcChart, SpcConfig, cusum, ewma, ewma_halfwidth, rule_flags, shewhart_limits


def fired(z, rule):
    return np.flatnonzero(rule_flags(np.array(z, dtype=float), rule)).tolist()


def test_shewhart_limits_use_the_mean_and_the_mean_moving_range():
    centre, sigma = shewhart_limits(np.array([10.0, 12.0, 11.0, 13.0]))  # moving ranges 2, 1, 2
    assert centre == 11.5
    assert sigma == pytest.approx((5 / 3) / 1.128)


@pytest.mark.parametrize("rule", ["we-1", "nelson-1"])
def test_rule_1_one_point_beyond_3_sigma(rule):
    assert fired([0, 2.9, 3.0, 3.1, -3.5, 0], rule) == [3, 4]  # exactly 3 sigma is inside


@pytest.mark.parametrize("rule", ["we-2", "nelson-5"])
def test_two_of_three_beyond_2_sigma_same_side(rule):
    assert fired([2.5, 0, 2.1, 0, 0], rule) == [2]  # the second of the pair completes it
    assert fired([2.5, 0, 0, 2.1], rule) == []  # 2 of 4 is not 2 of 3
    assert fired([2.5, -2.5, 0.5], rule) == []  # opposite sides
    assert fired([2.5, 2.5, 2.5], rule) == [1, 2]  # from the start, 2 of the first 2 count
    assert fired([-2.1, -0.5, -2.2], rule) == [2]


@pytest.mark.parametrize("rule", ["we-3", "nelson-6"])
def test_four_of_five_beyond_1_sigma_same_side(rule):
    assert fired([1.5, 1.2, 0, 1.1, 1.3], rule) == [4]
    assert fired([1.5, 1.2, 0, 1.1, 0.5], rule) == []  # only 3 of 5
    assert fired([-1.5, -1.2, -1.1, 0.2, -1.3, 0], rule) == [4]
    assert fired([1.5, 1.2, -1.1, 1.1, 0], rule) == []  # mixed sides


def test_we_4_eight_in_a_row_on_one_side():
    assert fired([0.1] * 7 + [-0.1] + [0.2] * 8, "we-4") == [15]
    assert fired([-0.3] * 9, "we-4") == [7, 8]
    assert fired([0.1] * 4 + [0.0] + [0.1] * 4, "we-4") == []  # a point on the centre line breaks it


def test_nelson_2_nine_in_a_row_on_one_side():
    assert fired([0.1] * 8, "nelson-2") == []
    assert fired([0.1] * 9, "nelson-2") == [8]
    assert fired([-0.5] * 10, "nelson-2") == [8, 9]


def test_nelson_3_six_in_a_row_rising_or_falling():
    assert fired([0, 0.1, 0.2, 0.3, 0.4, 0.5], "nelson-3") == [5]
    assert fired([0, 0.1, 0.2, 0.3, 0.4], "nelson-3") == []  # five points: four steps
    assert fired([0, 0.1, 0.2, 0.2, 0.3, 0.4], "nelson-3") == []  # a tie breaks the run
    assert fired([1, 0.5, 0.2, -0.1, -0.4, -2, -2.1], "nelson-3") == [5, 6]


def test_nelson_4_fourteen_in_a_row_alternating():
    zigzag = [0.5 * (-1) ** k for k in range(14)]
    assert fired(zigzag, "nelson-4") == [13]
    assert fired(zigzag[:13], "nelson-4") == []
    broken = zigzag[:7] + [0.6] + zigzag[8:] + [0.7, -0.7]  # rises twice in a row at 7
    assert fired(broken, "nelson-4") == []


def test_nelson_7_fifteen_in_a_row_within_1_sigma():
    assert fired([0.5, -0.5] * 7, "nelson-7") == []
    assert fired([0.5, -0.5] * 7 + [0.9], "nelson-7") == [14]
    assert fired([0.5] * 7 + [1.0] + [0.5] * 8, "nelson-7") == []  # 1 sigma itself is not within


def test_nelson_8_eight_in_a_row_beyond_1_sigma_both_sides():
    assert fired([1.5, -1.5] * 4, "nelson-8") == [7]
    assert fired([1.5] * 8, "nelson-8") == []  # one side only: that is a shift, not nelson-8
    assert fired([1.5, -1.5, 1.5, 0.5, -1.5, 1.5, -1.5, 1.5, -1.5], "nelson-8") == []


def test_ewma_follows_the_recursion_and_its_exact_limits():
    z = np.array([1.0, 1.0, 1.0, 2.0])
    assert ewma(z, 0.2).tolist() == pytest.approx([0.2, 0.36, 0.488, 0.7904])
    assert ewma(z[2:], 0.2, state=0.36).tolist() == pytest.approx([0.488, 0.7904])
    assert ewma_halfwidth(np.array([1.0]), 0.2, 3.0)[0] == pytest.approx(0.6)  # L * lambda at t = 1


def test_ewma_chart_catches_a_small_sustained_shift_that_rule_1_misses():
    chart = SpcChart(SpcConfig(rules=frozenset({"ewma", "we-1"}), baseline=2))
    chart.update(np.array([-1.0, 1.0]))  # centre 0, sigma 2 / 1.128
    sigma = 2 / 1.128
    flags = chart.update(np.full(12, 1.2 * sigma))[0]
    assert not flags["we-1"].any()
    # EWMA of a 1.2 sigma shift, lambda 0.2: crosses its exact L=3 limit at the 8th reading
    assert np.flatnonzero(flags["ewma"])[0] == 7


def test_cusum_is_the_tabular_recursion():
    y = np.array([0.5, -2.0, 1.0, 1.0, -0.5, 3.0])
    expected, c = [], 0.0
    for v in y:
        c = max(0.0, c + v)
        expected.append(c)
    assert cusum(y).tolist() == pytest.approx(expected)
    assert cusum(y[3:], state=expected[2]).tolist() == pytest.approx(expected[3:])


def test_cusum_chart_signals_a_one_sigma_shift_after_h_over_the_drift():
    chart = SpcChart(SpcConfig(rules=frozenset({"cusum"}), baseline=2, cusum_k=0.5, cusum_h=5.0))
    chart.update(np.array([-1.0, 1.0]))
    sigma = 2 / 1.128
    flags = chart.update(np.concatenate((np.zeros(5), np.full(15, sigma))))[0]
    # +0.5 per reading after the shift: C+ = 5.5 > 5 at the 11th shifted reading (index 15)
    assert np.flatnonzero(flags["cusum-up"])[0] == 15
    assert not flags["cusum-down"].any()


def test_chart_waits_for_its_baseline_and_draws_3_sigma_lines():
    chart = SpcChart(SpcConfig(rules=frozenset({"we-1"}), baseline=4))
    flags, centre, lcl, ucl = chart.update(np.array([10.0, 12.0, 11.0, 13.0, 30.0, 11.0]))
    assert np.isnan(centre[:4]).all() and not flags["we-1"][:4].any()
    sigma = (5 / 3) / 1.128
    assert centre[4] == 11.5 and ucl[4] == pytest.approx(11.5 + 3 * sigma) and lcl[4] == pytest.approx(11.5 - 3 * sigma)
    assert flags["we-1"].tolist() == [False] * 4 + [True, False]


def test_chart_gives_the_same_flags_for_any_batch_split():
    rng = np.random.default_rng(7)
    x = np.concatenate((rng.normal(0, 1, 300), rng.normal(1.5, 1, 100), 0.3 * (-1) ** np.arange(50)))
    config = SpcConfig(rules=frozenset(RULES) | {"cusum"}, baseline=50)
    whole = SpcChart(config).update(x)[0]
    for trial in range(5):
        cuts = np.sort(rng.choice(np.arange(1, len(x)), size=20, replace=False))
        chart = SpcChart(config)
        parts = [chart.update(part)[0] for part in np.split(x, cuts)]
        for rule in whole:
            assert np.concatenate([p[rule] for p in parts]).tolist() == whole[rule].tolist(), rule


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError):
        SpcConfig(rules=frozenset({"nelson-9"})).active()

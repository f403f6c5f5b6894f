"""The calendar of onsets: episodes at each resident's daily probability, a day's work proportional to its episodes."""

from __future__ import annotations

import numpy as np
import pytest

from health_sim.world.onset import NEVER, WINDOW, Onsets


def simulate(p_of_day, n, days, seed=3):
    """Run a calendar for ``days`` days; ``p_of_day(d)`` gives the probabilities in force on day d.

    Returns the (day, resident) onsets and the largest list of residents looked at on a day.
    """
    p = p_of_day(0)
    cal = Onsets(seed, p)
    onsets, looked_at = [], 0
    for d in range(days):
        new = p_of_day(d)
        if not np.array_equal(new, p):  # risks changed at the start of day d
            changed = np.flatnonzero(new != p)
            p = new
            cal.change(changed, p, d - 1)
        ids, u = cal.today(d, p)
        assert (np.diff(ids) > 0).all()  # ascending, each resident once
        assert ((u >= 0) & (u < p[ids])).all()  # uniform below his probability: it draws the kind
        looked_at = max(looked_at, len(cal._week) + len(cal._added))
        onsets += [(d, i) for i in ids]
        cal.renew(ids, p, d)
    return np.array(onsets).reshape(-1, 2), looked_at


def test_episodes_arrive_at_the_daily_probability():
    n, days = 20000, 300
    p = np.full(n, 0.02, dtype=np.float32)
    p[:5000] = 0.1
    on, _ = simulate(lambda d: p, n, days)
    per = np.bincount(on[:, 1], minlength=n)
    for group, q in ((slice(0, 5000), 0.1), (slice(5000, n), 0.02)):
        got, expect = per[group].sum(), per[group].size * days * q
        assert abs(got - expect) < 4 * np.sqrt(expect), (q, got, expect)
    # days are independent: an episode the day after another as often as on any day
    day_after = np.isin(on[:, 0] * n + on[:, 1] + n, on[:, 0] * n + on[:, 1]).reshape(-1)
    low = on[:, 1] >= 5000
    assert day_after[low].mean() == pytest.approx(0.02, abs=0.003)


def test_a_change_of_risk_takes_effect_from_that_day():
    n, days = 20000, 200
    lo, hi = np.full(n, 0.01, dtype=np.float32), np.full(n, 0.05, dtype=np.float32)
    on, _ = simulate(lambda d: lo if d < 100 else hi, n, days)
    before, after = (on[:, 0] < 100).sum(), (on[:, 0] >= 100).sum()
    assert abs(before - n * 100 * 0.01) < 4 * np.sqrt(n * 100 * 0.01)
    assert abs(after - n * 100 * 0.05) < 4 * np.sqrt(n * 100 * 0.05)


def test_a_days_work_follows_its_episodes_not_the_population():
    n = 1_000_000
    p = np.full(n, 2e-4, dtype=np.float32)  # about 200 episodes a day among a million residents
    _, looked_at = simulate(lambda d: p, n, 30)
    assert looked_at < 3 * WINDOW * 200


def test_common_random_numbers_and_seeds():
    n, days = 5000, 120
    p = np.full(n, 0.03, dtype=np.float32)
    q = p.copy()
    q[:100] = 0.3  # a policy that changes the risk of the first hundred residents only
    a, _ = simulate(lambda d: p, n, days)
    b, _ = simulate(lambda d: q, n, days)
    again, _ = simulate(lambda d: p, n, days)
    other, _ = simulate(lambda d: p, n, days, seed=4)
    assert np.array_equal(a, again)
    assert not np.array_equal(a, other)
    assert np.array_equal(a[a[:, 1] >= 100], b[b[:, 1] >= 100])  # everyone else falls ill on the same days


def test_a_resident_without_risk_never_falls_ill():
    p = np.array([0.0, 0.5], dtype=np.float32)
    cal = Onsets(1, p)
    assert cal.next_day[0] == NEVER
    on, _ = simulate(lambda d: p, 2, 50)
    assert set(on[:, 1]) == {1}


def test_a_change_of_risk_moves_onsets_the_least():
    """A higher risk from day 50 brings onsets forward, never back, and only the changed residents'."""
    n = 4000
    p = np.full(n, 0.01, dtype=np.float32)
    a, b = Onsets(5, p), Onsets(5, p)
    q = p.copy()
    q[:2000] = 0.02
    b.change(np.arange(2000), q, 50)
    assert np.array_equal(a.next_day[2000:], b.next_day[2000:])
    later = a.next_day[:2000] > 50
    assert (b.next_day[:2000][later] <= a.next_day[:2000][later]).all()
    # the wait left shrinks by the ratio of the daily hazards (about half), to within a day's rounding
    ratio = np.log1p(-0.01) / np.log1p(-0.02)
    left = a.next_day[:2000][later] - 50
    assert (np.abs(b.next_day[:2000][later] - 50 - left * ratio) <= 1).all()

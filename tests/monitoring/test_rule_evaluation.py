"""The alert rules as pure functions: levels, for-durations, hysteresis, escalation, cooldown and dedupe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.alerts import Action, OpenAlert, Rule, decide, level_of, peak

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CPU = Rule(">", warning=80, critical=95)
FREE_DISK = Rule("<", warning=20, critical=5)


def _decide(rule: Rule, value: float | None, **kwargs):
    kwargs.setdefault("open_alert", None)
    kwargs.setdefault("breach_since", None)
    kwargs.setdefault("renotify_seconds", 3600)
    return decide(rule, value, kwargs.pop("now", NOW), **kwargs)


def test_levels_follow_the_comparison():
    assert [level_of(CPU, v) for v in (50, 80, 81, 95, 96)] == [None, None, "warning", "warning", "critical"]
    assert [level_of(FREE_DISK, v) for v in (50, 19, 4)] == [None, "warning", "critical"]


def test_a_breach_without_duration_opens_an_alert_and_notifies():
    decision = _decide(CPU, 97)
    assert (decision.action, decision.severity, decision.notify) == (Action.OPEN, "critical", True)


def test_a_value_within_the_warning_level_does_nothing():
    assert _decide(CPU, 70).action == Action.NONE


def test_a_missing_value_changes_nothing():
    since = NOW - timedelta(seconds=5)
    decision = _decide(CPU, None, breach_since=since)
    assert (decision.action, decision.breach_since) == (Action.NONE, since)


def test_a_for_duration_waits_until_the_breach_has_lasted_long_enough():
    rule = Rule(">", 80, 95, for_seconds=60)
    first = _decide(rule, 85)
    assert (first.action, first.breach_since) == (Action.NONE, NOW)
    still_short = _decide(rule, 85, now=NOW + timedelta(seconds=59), breach_since=NOW)
    assert (still_short.action, still_short.breach_since) == (Action.NONE, NOW)
    long_enough = _decide(rule, 85, now=NOW + timedelta(seconds=60), breach_since=NOW)
    assert (long_enough.action, long_enough.severity) == (Action.OPEN, "warning")


def test_a_breach_that_ends_before_its_duration_clears_the_clock():
    rule = Rule(">", 80, 95, for_seconds=60)
    decision = _decide(rule, 50, now=NOW + timedelta(seconds=30), breach_since=NOW)
    assert (decision.action, decision.breach_since) == (Action.NONE, None)


def test_an_open_alert_is_updated_never_duplicated():
    alert = OpenAlert("warning", "firing", last_notified_at=NOW)
    decision = _decide(CPU, 85, open_alert=alert)
    assert (decision.action, decision.notify) == (Action.UPDATE, False)


def test_hysteresis_keeps_a_critical_alert_open_until_the_value_is_under_the_warning_level():
    alert = OpenAlert("critical", "firing", last_notified_at=NOW)
    between = _decide(CPU, 90, open_alert=alert)
    assert (between.action, between.severity) == (Action.UPDATE, "critical")
    assert _decide(CPU, 80, open_alert=alert).action == Action.RESOLVE


def test_a_warning_alert_beyond_critical_escalates_and_notifies_at_once():
    alert = OpenAlert("warning", "firing", last_notified_at=NOW)
    decision = _decide(CPU, 99, open_alert=alert, now=NOW + timedelta(seconds=1))
    assert (decision.action, decision.severity, decision.notify) == (Action.ESCALATE, "critical", True)


def test_cooldown_renotifies_a_firing_alert_only_after_renotify_seconds():
    alert = OpenAlert("warning", "firing", last_notified_at=NOW)
    assert not _decide(CPU, 85, open_alert=alert, now=NOW + timedelta(seconds=3599)).notify
    assert _decide(CPU, 85, open_alert=alert, now=NOW + timedelta(seconds=3600)).notify


def test_an_acknowledged_alert_is_never_renotified():
    alert = OpenAlert("warning", "acknowledged", last_notified_at=NOW - timedelta(days=1))
    decision = _decide(CPU, 85, open_alert=alert)
    assert (decision.action, decision.notify) == (Action.UPDATE, False)
    escalated = _decide(CPU, 99, open_alert=alert)
    assert (escalated.action, escalated.notify) == (Action.ESCALATE, False)


def test_peak_is_the_worst_value_for_the_comparison():
    assert peak(">", 90, 85) == 90
    assert peak("<", 10, 4) == 4
    assert peak(">", None, 3) == 3

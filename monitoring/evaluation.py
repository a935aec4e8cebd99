"""One evaluation pass: the enabled thresholds against the latest samples, or against component and run health."""

from __future__ import annotations

from monitoring import components
from monitoring.models import Alert, ComponentHealth, SystemSample, Threshold
from monitoring.observations import health_observations, run_observations, system_observations
from monitoring.run_health import run_health
from monitoring.sampling import latest_samples
from monitoring.services import apply_observations


def enabled_thresholds() -> list[Threshold]:
    return list(Threshold.objects.filter(enabled=True))


def evaluate_samples(samples: list[SystemSample] | None = None) -> list[Alert]:
    """System thresholds (CPU, memory, swap, load, disks) against each host's latest sample."""
    samples = latest_samples() if samples is None else samples
    return apply_observations(system_observations(enabled_thresholds(), samples))


def evaluate_health(checked: list[ComponentHealth] | None = None) -> list[Alert]:
    """Run health, sync lag and component thresholds."""
    thresholds = enabled_thresholds()
    rows = list(ComponentHealth.objects.all()) if checked is None else checked
    overall, per_deployment = run_health()
    observations = run_observations(thresholds, overall, per_deployment)
    observations += health_observations(thresholds, rows, components.sync_lag_seconds())
    return apply_observations(observations)


def evaluate_all() -> list[Alert]:
    return evaluate_samples() + evaluate_health()

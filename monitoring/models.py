"""Monitoring models (system samples, component health, thresholds, alerts) arrive with the monitoring issue."""

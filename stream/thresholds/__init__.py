"""Anomaly thresholds: the static/adaptive policy and its running statistics (Redis, journal)."""

"""Alerts: the M-of-N rule over score records, its consumer's metrics."""

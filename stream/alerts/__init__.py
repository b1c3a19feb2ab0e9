"""Alerts: the m-of-n rule over score records, the alert consumer loop, its metrics."""

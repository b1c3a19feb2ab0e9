"""What a worker shows: Prometheus metrics, the live feed and dashboard, process statistics."""

"""The replay / load producer: streams ECG5000 beats into Kafka as simulated patients."""

"""Connections to Kafka and Redis: client configuration, topics, probes, credential checks."""

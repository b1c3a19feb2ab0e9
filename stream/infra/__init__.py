"""Local infrastructure without Docker: Kafka (KRaft, from Maven Central) and Redis."""

"""Continuous mode: frames of a patient's signal cut into beats as in training."""

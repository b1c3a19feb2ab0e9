"""The ward board: a service reading the output topics, serving every patient's state."""

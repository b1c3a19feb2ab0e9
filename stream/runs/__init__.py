"""Runs behind demo, bench and evaluate-stream: worker processes, lifecycles, outputs."""

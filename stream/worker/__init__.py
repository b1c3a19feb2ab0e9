"""The Faust worker: the app, the micro-batch pipeline, scoring, health."""

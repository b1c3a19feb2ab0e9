"""The ``ecg-stream`` command line: root group in ``base``, a module per command."""

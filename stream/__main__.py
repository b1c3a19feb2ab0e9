"""``python -m stream`` is the ``ecg-stream`` command."""

from stream.cli import main

main()

"""``python -m stream`` is the ``ecg-stream`` command."""

from stream.cli.main import main

main()

"""``python -m stream.reference``: run the reference consumer (``ecg-stream bench`` starts it)."""

from stream.reference.consumer import main

main()

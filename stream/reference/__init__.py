"""The smallest honest consumer: the framework-free baseline ``ecg-stream bench`` measures."""

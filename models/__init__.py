"""The LSTM autoencoder: ECG5000 loading, training, calibration, evaluation, batched scoring."""

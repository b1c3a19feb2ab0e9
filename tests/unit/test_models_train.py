import numpy as np
import torch

from models.train import TrainConfig, train


def _beats(n, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 140)
    phase = rng.uniform(0, 0.3, size=(n, 1))
    return (np.sin(t + phase) + 0.05 * rng.standard_normal((n, 140))).astype(np.float32)


CONFIG = TrainConfig(hidden=(8, 4), epochs=6, batch_size=16, lr=1e-2, threads=1, seed=3)


def test_short_run_validation_loss_falls():
    result = train(_beats(96, 0), _beats(32, 1), CONFIG, progress=False)
    assert len(result.val_loss) == CONFIG.epochs
    assert min(result.val_loss) < result.val_loss[0]
    assert result.val_loss[result.best_epoch - 1] == min(result.val_loss)


def test_seeded_training_is_deterministic():
    first = train(_beats(48, 0), _beats(16, 1), CONFIG, progress=False)
    second = train(_beats(48, 0), _beats(16, 1), CONFIG, progress=False)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key

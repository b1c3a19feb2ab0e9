import numpy as np

from models.plots import plot_histograms, plot_reconstructions, plot_roc


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    normal, anomaly = rng.normal(20, 3, 50), rng.normal(40, 5, 50)
    beats = rng.standard_normal((6, 140))
    paths = [
        plot_histograms(normal, anomaly, 30.0, tmp_path / "h.png"),
        plot_roc(normal, anomaly, (normal, anomaly + 1), tmp_path / "r.png"),
        plot_reconstructions((beats, beats * 0.9), (beats, beats * 0.5), tmp_path / "g.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""PNG plots of training curves (matplotlib, Agg backend, imported lazily)."""
from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h.get("epoch", h.get("step")) for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = [h.get(prefix + metric) for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, label=(prefix or "train_") + metric, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_comparison(histories: dict[str, list[dict]], path: Path, title: str = "") -> None:
    """Validation (or train) loss and accuracy per epoch of several runs, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for label, history in histories.items():
            key = "val_" + metric if any("val_" + metric in h for h in history) else metric
            ax.plot([h.get("epoch", h.get("step")) for h in history], [h.get(key) for h in history], "-o", markersize=3,
                    label=label[:60])
        ax.set_xlabel("epoch")
        ax.set_title(f"validation {metric}")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)

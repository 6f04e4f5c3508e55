"""Make docs/neural_cb.png (and docs/neural_cb_ablation.png when the ablation ran) from the
reporting runs of docs/neural_cb_tune.py (docs/tuning.md):

    nice python docs/neural_cb_tune.py        # tuning sweeps, then runs/out/neural_cb_<testbed>
    python docs/neural_cb_figure.py runs/out

Bands: mean ± Student-t 95% confidence interval of the mean over the R replicates
(olearn.metrics.curve, column ci95).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from olearn.metrics import curve  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from neural_cb_tune import load_report  # noqa: E402

PANELS = ["cosine", "quadratic", "wine"]
BAND = "mean ± Student-t 95% CI over replicates"


def panel(ax, run: Path, title: str) -> None:
    df = curve(load_report(run), "regret").collect()
    for (agent,), part in df.group_by("agent", maintain_order=True):
        t, m, ci = part["t"].to_numpy(), part["mean"].to_numpy(), part["ci95"].to_numpy()
        (line,) = ax.plot(t, m, label=agent, lw=1.4)
        ax.fill_between(t, m - ci, m + ci, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("round t", fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)


def main(root: str) -> None:
    base = Path(root)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=110)
    for ax, name in zip(axes.flat, PANELS, strict=False):
        run = base / f"neural_cb_{name}"
        panel(ax, run if run.exists() else base / name, name)
    for ax in axes[:, 0]:
        ax.set_ylabel("cumulative regret", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes.flat[-1].axis("off")
    axes.flat[-1].legend(handles, labels, loc="center", fontsize=9,
                         title=f"tuned (docs/tuning.md)\nbands: {BAND}", title_fontsize=8)
    fig.tight_layout()
    out = Path(__file__).parent
    fig.savefig(out / "neural_cb.png")
    abl = base / "neural_cb_ablation"
    if not abl.exists():
        return
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    panel(ax, abl, "cosine: perturbation off vs on (c_p), tuned lr and γ")
    ax.set_ylabel("cumulative regret", fontsize=8)
    ax.legend(fontsize=8, title=f"bands: {BAND}", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "neural_cb_ablation.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/out")

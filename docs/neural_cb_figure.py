"""Make docs/neural_cb.png (and docs/neural_cb_ablation.png when the ablation ran) from the
reporting runs of docs/neural_cb_tune.py (docs/tuning.md):

    nice python docs/neural_cb_tune.py        # tuning sweeps, then runs/out/neural_cb_<testbed>
    python docs/neural_cb_figure.py runs/out

Each panel is :func:`olearn.plot.regret_figure` of one testbed's reporting run (its agents'
run directories loaded together by ``neural_cb_report.load_report``). Bands: mean ± Student-t
95% confidence interval of the mean over the R replicates (olearn.metrics.mean_ci, column
ci95).
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from olearn.plot import regret_figure

sys.path.insert(0, str(Path(__file__).parent))
from neural_cb_report import load_report  # noqa: E402

PANELS = ["cosine", "quadratic", "wine", "digits", "breast_cancer"]


def panel(ax, run: Path, title: str) -> None:
    regret_figure([load_report(run)], ax=ax, title=title)
    ax.set_xlabel("round t", fontsize=8)
    ax.set_ylabel("cumulative regret", fontsize=8)
    ax.tick_params(labelsize=7)


def main(root: str) -> None:
    base = Path(root)
    fig = Figure(figsize=(14, 7), dpi=110)
    axes = fig.subplots(2, 3)
    for ax, name in zip(axes.flat, PANELS, strict=False):
        run = base / f"neural_cb_{name}"
        panel(ax, run if run.exists() else base / name, name)
    for ax in axes[:, 1:].flat:
        ax.set_ylabel("")
    legend = axes[0, 0].get_legend()       # the same agents in every panel: one legend
    handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
    for ax in axes.flat[: len(PANELS)]:
        ax.get_legend().remove()
    axes.flat[-1].axis("off")
    axes.flat[-1].legend(handles, labels, loc="center", fontsize=9,
                         title="tuned (docs/tuning.md)", title_fontsize=9)
    fig.tight_layout()
    out = Path(__file__).parent
    fig.savefig(out / "neural_cb.png")
    abl = base / "neural_cb_ablation"
    if not abl.exists():
        return
    fig = Figure(figsize=(6.5, 4), dpi=110)
    ax = fig.subplots()
    panel(ax, abl, "cosine: perturbation off vs on (c_p), tuned lr and γ")
    fig.tight_layout()
    fig.savefig(out / "neural_cb_ablation.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/out")

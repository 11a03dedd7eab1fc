"""The harmlessness vs over-refusal trade-off: one point per checkpoint (or per guard threshold), as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import BadInput


def points_from_runs(dirs: Sequence[str | Path], asr_bench: str = "harmbench",
                     over_refusal_bench: str = "xstest") -> list[tuple[str, float, float]]:
    """(label, over_refusal, asr) from eval runs' metrics.json."""
    from ..records import read_json

    pts = []
    for d in dirs:
        m = read_json(Path(d) / "metrics.json")
        try:
            orr, asr = m[over_refusal_bench]["over_refusal"], m[asr_bench]["asr"]
        except KeyError as e:
            raise BadInput(f"{d}/metrics.json: no '{e.args[0]}' block (benches: {', '.join(m)})") from None
        if orr is None or asr is None:
            raise BadInput(f"{d}/metrics.json: over_refusal or asr is null")
        pts.append((Path(d).name, float(orr), float(asr)))
    return pts


def threshold_points(scores: Sequence[float], labels: Sequence[str], harmful: Sequence[bool],
                     refused: Sequence[bool], thresholds: Sequence[float]) -> list[tuple[str, float, float]]:
    """A guard that blocks a request when its score ≥ t, on top of a model's judged responses: ASR(t) = share of
    harmful prompts not blocked and answered harmfully; over-refusal(t) = share of benign prompts blocked or
    refused."""
    harm_idx = [i for i, lab in enumerate(labels) if lab == "harmful"]
    ben_idx = [i for i, lab in enumerate(labels) if lab == "benign"]
    if not harm_idx or not ben_idx:
        raise BadInput("threshold sweep needs both harmful and benign rows")
    pts = []
    for t in thresholds:
        asr = sum(scores[i] < t and harmful[i] for i in harm_idx) / len(harm_idx)
        orr = sum(scores[i] >= t or refused[i] for i in ben_idx) / len(ben_idx)
        pts.append((f"t={t:g}", orr, asr))
    return pts


def tradeoff_plot(points: Sequence[tuple[str, float, float]], out: str | Path,
                  title: str = "Harmlessness vs over-refusal") -> Path:
    """x = over-refusal, y = harmlessness (1 − ASR); points joined in the given order and labelled. The ideal is
    the top-left corner."""
    if not points:
        raise BadInput("trade-off plot: no points")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    xs = [p[1] * 100 for p in points]
    ys = [(1 - p[2]) * 100 for p in points]
    ax.plot(xs, ys, "-o", color="#3366aa")
    for i, ((lab, _, _), x, y) in enumerate(zip(points, xs, ys)):  # alternate above/below: close points stay legible
        ax.annotate(lab, (x, y), textcoords="offset points", xytext=(6, 6 if i % 2 == 0 else -12), fontsize=8)
    ax.set_xlabel("over-refusal on benign prompts (%)")
    ax.set_ylabel("harmlessness = 1 − ASR (%)")
    ax.set_xlim(-2, max(100, max(xs) + 5) if max(xs) > 50 else max(xs) + 10)
    ax.set_ylim(min(ys) - 10 if min(ys) > 10 else -2, 102)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    from ..figures import save_png

    return save_png(fig, out)

"""The report: ``report.json`` and one self-contained ``report.html`` (plots inlined as PNG, no network).

Reports only read the run directory's files: Harm Taxonomy, Red Team Report, Safety Evaluation (before/after),
Training Data Summary and the training curve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..errors import BadInput
from ..records import read_json, write_json
from ..figures import file_uri, png_uri
from .redteam import redteam_plots


def _maybe(path: Path) -> Any:
    return read_json(path) if path.exists() else None


def headline(metrics: dict | None) -> dict:
    """The numbers that decide a release, from an eval's metrics.json."""
    if not metrics:
        return {}
    out = {}
    for bench, m in metrics.items():
        if not isinstance(m, dict) or "n" not in m:
            continue
        if m.get("asr") is not None:
            out[f"{bench}_asr"] = m["asr"]
        if m.get("over_refusal") is not None:
            out[f"{bench}_over_refusal"] = m["over_refusal"]
    return out


def _before_after_bars(plt, labels: list[str], before: list[float], after: list[float], fontsize: int):
    """Grouped bars of rates (0–1) before and after training, in percent."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], [v * 100 for v in before], 0.4, label="before", color="#c0504d")
    ax.bar([i + 0.2 for i in x], [v * 100 for v in after], 0.4, label="after", color="#4f81bd")
    ax.set_xticks(list(x), labels, fontsize=fontsize)
    return fig, ax


def _plots(before: dict | None, after: dict | None, redteam: dict | None, train: dict | None) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    if before and after:
        hb, ha = headline(before), headline(after)
        keys = [k for k in hb if k in ha]
        if keys:
            fig, ax = _before_after_bars(plt, [k.replace("_", "\n", 1) for k in keys], [hb[k] for k in keys],
                                         [ha[k] for k in keys], fontsize=8)
            ax.set_ylabel("%")
            ax.set_ylim(0, 100)
            ax.legend()
            ax.set_title("Before vs after training")
            plots["before_after"] = png_uri(fig)
        cats = {}
        for tag, m in (("before", before), ("after", after)):
            for bench, bm in m.items():
                if isinstance(bm, dict) and bm.get("asr_by_category") and bench.startswith("harmbench"):
                    for c, r in bm["asr_by_category"].items():
                        cats.setdefault(c, {})[tag] = r["rate"] or 0.0
        if cats:
            names = sorted(cats)
            fig, ax = _before_after_bars(plt, [n.replace("_", "\n") for n in names],
                                         [cats[c].get("before", 0) for c in names],
                                         [cats[c].get("after", 0) for c in names], fontsize=7)
            ax.axhline(20, ls="--", color="k", lw=0.8, label="halt threshold (20%)")
            ax.set_ylabel("ASR %")
            ax.set_ylim(0, 118)
            ax.legend(fontsize=7, loc="upper center", ncol=3)
            ax.set_title("HarmBench (held-out) ASR by category")
            plots["by_category"] = png_uri(fig)
    plots.update(redteam_plots(plt, redteam))
    if train and train.get("history"):
        h = train["history"]
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot([r["step"] for r in h], [r["loss"] for r in h], marker="o", ms=3, label="loss")
        acc_key = next((k for k in ("rewards/accuracies",) if k in h[0]), None)
        if acc_key:
            ax2 = ax.twinx()
            ax2.plot([r["step"] for r in h], [r[acc_key] for r in h], color="#c0504d", ls="--",
                     label="reward accuracy")
            ax2.set_ylim(0, 1.05)
            ax2.set_ylabel("reward accuracy")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title("Training (DPO)")
        plots["training"] = png_uri(fig)
    return plots


MATRIX_METRICS = (("asr", "ASR"), ("over_refusal", "over-refusal"), ("mc1", "TruthfulQA MC1"), ("score", "score"))


def generalisation_matrix(before: dict | None, after: dict | None, failed: list[dict]) -> list[dict]:
    """The report's first table: every bench × metric, before and after with CIs, and whether a gate failed on it."""
    bad = {g["metric"] for g in failed}
    rows = []
    for bench, b in (after or {}).items():
        if not isinstance(b, dict) or "n" not in b:
            continue
        pre = (before or {}).get(bench) or {}
        for key, label in MATRIX_METRICS:
            if isinstance(b.get(key), (int, float)):
                rows.append({"bench": bench, "metric": label, "n": b["n"], "before": pre.get(key),
                             "before_ci95": pre.get(f"{key}_ci95"), "after": b[key], "after_ci95": b.get(f"{key}_ci95"),
                             "failed": f"{bench}.{key}" in bad or any(m.startswith(f"{bench}.{key}_by") for m in bad)})
    return rows


def build_report(out: str | Path) -> dict:
    out = Path(out)
    if not out.exists():
        raise BadInput(f"{out}: run directory not found")
    from ..taxonomy import load_taxonomy

    state = _maybe(out / "state.json")
    rounds = (state or {}).get("rounds") or []
    last = out / rounds[-1]["dir"] if rounds else out  # "after" = the last round's eval
    before = _maybe(out / "eval_before" / "metrics.json")
    after = _maybe(last / "eval_after" / "metrics.json")
    redteam = _maybe(out / "redteam" / "redteam.json")
    datagen = _maybe(out / "data" / "datagen.json")
    train = _maybe(out / "train" / "train.json")
    config = _maybe(out / "config.json")
    single = _maybe(out / "metrics.json")  # a plain `safestack eval` directory
    probe = _maybe(out / "probe" / "probe.json") or _maybe(out / "probe.json")  # `safestack probe` results
    if not any([before, after, redteam, datagen, train, single, probe]):
        raise BadInput(f"{out}: no safestack results found (expected eval_*/metrics.json, redteam/redteam.json, "
                       "data/datagen.json or metrics.json)")
    taxonomy = load_taxonomy((config or {}).get("taxonomy"))
    ckpt_rows, ckpt_png = [], None
    if (out / "train" / "checkpoint_evals.jsonl").exists():
        from ..train.checkpoint_eval import flag_degradation, load_evals, plot_curves

        ckpt_rows = load_evals(out / "train")
        if ckpt_rows:
            ckpt_png = plot_curves(ckpt_rows, out / "train" / "checkpoint_evals.png")
    report = {
        "schema": 1,
        "target": (config or {}).get("target"),
        "before": before,
        "after": after,
        "summary": {"before": headline(before), "after": headline(after)} if before or after else
                   {"eval": headline(single)},
        "redteam": redteam,
        "training_data": datagen,
        "training": {k: v for k, v in (train or {}).items() if k != "history"} if train else None,
        "checkpoint_evals": {"rows": [{"step": r.step, "asr": r.asr, "asr_ci95": r.asr_ci95,
                                       "over_refusal": r.over_refusal, "over_refusal_ci95": r.over_refusal_ci95}
                                      for r in ckpt_rows],
                             "degradation": flag_degradation(ckpt_rows)} if ckpt_rows else None,
        "judges": (after or before or single or {}).get("judge"),
        "stage_seconds": {k: v["seconds"] for k, v in (state or {}).get("done", {}).items()},
        "rounds": [{"round": x["round"], "passed": x["gates"]["passed"], "n_failed": x["gates"]["n_failed"],
                    "failed": [g for g in x["gates"]["results"] if g["status"] == "fail"][:12],
                    "decisions": x.get("decisions", []), "stopped": x.get("stopped")} for x in rounds],
        "taxonomy": taxonomy.as_dict(),
    }
    last_gates = rounds[-1]["gates"]["results"] if rounds else []
    report["generalisation"] = generalisation_matrix(before, after or single,
                                                     [g for g in last_gates if g["status"] == "fail"])
    if single and not before:
        report["eval"] = single
    from ..review.summary import human_review_summary

    human = human_review_summary(out, ((config or {}).get("review") or {}).get("db"))
    if human:
        report["human_review"] = human
    if probe:
        report["probe"] = probe
    write_json(out / "report.json", report)
    plots = _plots(before, after, redteam, train)
    if ckpt_png:
        plots["checkpoints"] = file_uri(ckpt_png)
    # default=True: the templates are *.html.j2, which select_autoescape's extension list does not match — without
    # it the red-team examples (adversarial prompts and replies) would be written into the page unescaped
    env = Environment(loader=PackageLoader("safestack", "report/templates"),
                      autoescape=select_autoescape(default=True))
    env.filters["pct"] = lambda v: "–" if v is None else f"{v * 100:.1f}%"
    probe_html = ""
    if probe:
        from ..probes.report import probe_section

        probe_html = probe_section(probe)
    html = env.get_template("report.html.j2").render(r=report, plots=plots, dir=str(out), probe_html=probe_html)
    (out / "report.html").write_text(html, encoding="utf-8")
    return report

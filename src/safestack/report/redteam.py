"""Plots of the Red Team Report section, from redteam.json alone: ASR by attack and by family (Wilson CIs), ASR
against the number of faux dialogues N (few-/many-shot) and against the query budget (interactive attacks)."""

from __future__ import annotations

from ..figures import png_uri


def _series(d: dict) -> list[tuple[int, object]]:
    """A JSON object keyed by integers (strings once read back from disk), in numeric order."""
    return sorted((int(k), v) for k, v in d.items())


def _bars(plt, rates: dict[str, dict], title: str, color: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(rates)
    vals = [(rates[n]["rate"] or 0) * 100 for n in names]
    errs = [[v - (rates[n]["ci95"] or [0, 0])[0] * 100 for n, v in zip(names, vals)],
            [(rates[n]["ci95"] or [0, 0])[1] * 100 - v for n, v in zip(names, vals)]]
    ax.bar(names, vals, yerr=errs, color=color, capsize=3)
    ax.set_ylabel("ASR %")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.tick_params(axis="x", labelsize=8, labelrotation=30)
    return png_uri(fig)


def redteam_plots(plt, rt: dict | None) -> dict[str, str]:
    """Inline PNGs (data URIs) for the red-team section; a plot is left out when its data is absent."""
    if not rt:
        return {}
    plots = {}
    if rt.get("by_attack"):
        plots["by_attack"] = _bars(plt, rt["by_attack"], "Red team: ASR by attack (95% Wilson CI)", "#9bbb59")
    if rt.get("by_family"):
        plots["by_family"] = _bars(plt, rt["by_family"], "Red team: ASR by attack family (95% Wilson CI)", "#8064a2")
    shots = rt.get("asr_vs_shots") or []
    if shots:
        fig, ax = plt.subplots(figsize=(7, 3))
        ns = [r["shots"] for r in shots]
        vals = [(r["rate"] or 0) * 100 for r in shots]
        lo = [v - r["ci95"][0] * 100 for v, r in zip(vals, shots)]
        hi = [r["ci95"][1] * 100 - v for v, r in zip(vals, shots)]
        ax.errorbar(ns, vals, yerr=[lo, hi], marker="o", capsize=3, color="#c0504d")
        if len(ns) > 1 and max(ns) / min(ns) >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("N (fabricated dialogues before the request)")
        ax.set_ylabel("ASR %")
        ax.set_ylim(0, 100)
        ax.set_title("Many-shot: ASR vs N (95% Wilson CI)")
        plots["asr_vs_shots"] = png_uri(fig)
    queries = {a: _series(c) for a, c in (rt.get("asr_by_queries") or {}).items() if c}
    if queries:
        fig, ax = plt.subplots(figsize=(7, 3))
        for name, pts in queries.items():
            ax.plot([q for q, _ in pts], [v * 100 for _, v in pts], marker="o", ms=3, label=name)
        ax.set_xlabel("target queries (turns / attacker rounds)")
        ax.set_ylabel("ASR within budget %")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
        ax.set_title("Interactive attacks: ASR vs query budget")
        plots["asr_by_queries"] = png_uri(fig)
    return plots

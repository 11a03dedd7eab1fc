"""The probe section of the HTML report: ``probe_section(probe_json) -> str`` (plots inlined as base64 PNG)."""

from __future__ import annotations

import html

from ..figures import png_uri


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def probe_plots(res: dict) -> dict[str, str]:
    """{"overview": data-URI PNG}: probe accuracy by layer, and held-out ASR / over-refusal with the breaker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pl = res["probe_by_layer"]
    rows = pl["harmful_vs_benign"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    x = [r["layer"] for r in rows]
    ax.plot(x, [r["acc"] for r in rows], marker="o", ms=3, label="harmful vs benign: 5-fold CV")
    ax.plot(x, [r.get("val_acc") for r in rows], marker="s", ms=3, label="harmful vs benign: validation")
    cvr = pl.get("complied_vs_refused", {})
    if cvr.get("by_layer"):
        ax.plot([r["layer"] for r in cvr["by_layer"]], [r["acc"] for r in cvr["by_layer"]], marker="^", ms=3,
                label="complied vs refused: CV")
    if pl.get("bag_of_words"):
        ax.axhline(pl["bag_of_words"]["val_acc"], ls=":", color="grey", label="bag-of-words baseline (validation)")
    ax.axvline(pl["best_layer"], ls="--", color="k", lw=0.7)
    ax.set_xlabel("layer (residual stream after it, last prompt token)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.5, 1.01)
    ax.set_title("Linear probe accuracy by layer")
    ax.legend(fontsize=7, loc="lower right")
    ho = res["circuit_breaker"]["held_out"]
    labels, base, cb = [], [], []
    for b, m in ho.items():
        if m.get("asr_base") is not None:
            labels.append(f"{b}\nASR")
            base.append(m["asr_base"])
            cb.append(m["asr_cb"])
        if m.get("over_refusal_base") is not None:
            labels.append(f"{b}\nover-refusal")
            base.append(m["over_refusal_base"])
            cb.append(m["over_refusal_cb"])
    xs = range(len(labels))
    ax2.bar([i - 0.2 for i in xs], [v * 100 for v in base], 0.4, label="model", color="#c0504d")
    ax2.bar([i + 0.2 for i in xs], [v * 100 for v in cb], 0.4, label="with circuit breaker", color="#4f81bd")
    for i, (b, c) in enumerate(zip(base, cb)):
        ax2.text(i + 0.2, c * 100 + 1.5, f"{c * 100:.1f}", ha="center", fontsize=7)
    ax2.set_xticks(list(xs), labels, fontsize=7)
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("%")
    ax2.set_title("Held-out: circuit breaker")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"overview": png_uri(fig)}


def _table(head: list[str], body: list[list]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    tr = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{tr}</tbody></table>"


def probe_section(probe_json: dict) -> str:
    """An HTML fragment (``<section>``) with the probe results of ``safestack probe`` (DIR/probe.json)."""
    r = probe_json
    pl, cb, rd = r["probe_by_layer"], r["circuit_breaker"], r.get("refusal_direction") or {}
    best = pl["harmful_vs_benign"][pl["best_layer"]]
    parts = ["<section id='probes'><h2>Representation engineering: probes, refusal direction, circuit breaker</h2>",
             f"<p>Target <code>{html.escape(str(r['target']))}</code> ({r['model']['n_layers']} layers, "
             f"d={r['model']['d_model']}). Probes are logistic regressions on the residual stream at the last prompt "
             f"token, fitted on HarmBench adv_training + AdvBench vs safestack's benign prompts "
             f"({r['data']['harmful_fit']} + {r['data']['benign_fit']}), validated on HarmBench val + held-back "
             f"benign prompts ({r['data']['harmful_val']} + {r['data']['benign_val']}); never on XSTest or "
             f"HarmBench test.</p>",
             f"<img src='{probe_plots(r)['overview']}' alt='probe accuracy by layer and circuit breaker'>",
             f"<p>Best validation layer {pl['best_layer']}: CV accuracy {best['acc']:.3f}, validation accuracy "
             f"{best['val_acc']:.3f}, AUROC {best['auroc']:.3f}. Bag-of-words baseline: CV "
             f"{pl['bag_of_words']['acc']:.3f}, validation {pl['bag_of_words']['val_acc']:.3f}.</p>"]
    cvr = pl.get("complied_vs_refused", {})
    if cvr.get("skipped"):
        parts.append(f"<p>Complied vs refused: {html.escape(cvr['skipped'])}.</p>")
    elif cvr.get("by_layer"):
        b2 = max(cvr["by_layer"], key=lambda x: x["acc"])
        parts.append(f"<p>Complied vs refused ({cvr['n_refused']} refused of {cvr['n']}): best CV accuracy "
                     f"{b2['acc']:.3f} at layer {b2['layer']}.</p>")
    def rows_of(ho: dict, variant: str) -> list[list]:
        return [[variant, b, m["n"], _pct(m.get("asr_base")), _pct(m.get("asr_cb")), _pct(m.get("over_refusal_base")),
                 _pct(m.get("over_refusal_cb")), f"{m['halted_prompt']}/{m['halted_generation']}"]
                for b, m in ho.items()]

    body = rows_of(cb["held_out"], "deployed")
    if cb.get("held_out_both_probes") and cb.get("gen_probe_used") is False:
        body += rows_of(cb["held_out_both_probes"], "with generation probe")
    gen = (f"a generation probe at layer {cb['gen_layer']} checked every {cb['k']} tokens"
           if cb.get("gen_probe_used", True) else
           f"no generation probe (the one fitted at layer {cb['gen_layer']} caught no harmful validation prompt the "
           f"prompt probe missed, so it is left out; its held-out effect is shown for comparison)")
    parts.append(f"<h3>Circuit breaker (held out)</h3><p>Prompt probe at layer {cb['prompt_layer']} (k=0, before "
                 f"generation) and {html.escape(gen)}; each threshold allows ≤ {cb['max_fpr'] * 100:.0f}% false "
                 f"positives on the benign validation prompts. Use it as <code>{html.escape(cb['spec'])}</code>.</p>")
    parts.append(_table(["breaker", "bench", "n", "ASR", "ASR with breaker", "over-refusal",
                         "over-refusal with breaker", "halted prompt/generation"], body))
    o, lc = cb["overhead"], cb.get("live_check", {})
    parts.append(f"<p>Per-token cost: {o['ms_per_token_plain']} ms without, {o['ms_per_token_with_probes']} ms with "
                 f"probe scoring ({o['overhead_pct']:+.1f}%), batch of {o['prompts']}. Held-out numbers replay the "
                 f"model's recorded replies through the probes (teacher-forced); a live run of the breaker on "
                 f"{lc.get('n', 0)} of them agreed on halting in {_pct(lc.get('halt_agreement'))} of cases.</p>")
    if cb.get("curve"):
        parts.append("<p>Trade-off (prompt-probe threshold set at other validation FPRs):</p>" + _table(
            ["validation FPR", "HarmBench ASR", "XSTest over-refusal"],
            [[_pct(p["val_fpr"]), _pct(p["harmbench_asr"]), _pct(p["xstest_over_refusal"])] for p in cb["curve"]]))
    if rd.get("directions"):
        parts.append("<h3>Refusal direction: causal tests (judged)</h3>")
        body = []
        for name, dd in rd["directions"].items():
            for test in ("addition", "ablation"):
                t = dd.get(test)
                if t:
                    harm = test == "ablation"  # the harm judge only means something on harmful prompts
                    body.append([name, f"L{dd['layer']} α={dd['alpha']}" if test == "addition" else f"L{dd['layer']}",
                                 test, t["set"], t["n"], _pct(t.get("refusal_before")), _pct(t.get("refusal_after")),
                                 _pct(t.get("harm_before")) if harm else "–", _pct(t.get("harm_after")) if harm else "–",
                                 _pct(t.get("degenerate_after"))])
        parts.append(_table(["direction", "where", "intervention", "prompts", "n", "refusal before", "refusal after",
                             "harmful before", "harmful after", "degenerate after"], body))
        if rd.get("note"):
            parts.append(f"<p>{html.escape(rd['note'])}</p>")
    parts.append("</section>")
    return "\n".join(parts)

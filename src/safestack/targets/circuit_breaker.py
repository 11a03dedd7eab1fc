"""A runtime circuit breaker: linear probes on the residual stream stop generation and return a refusal.

Two probes (either may be absent):

* the **prompt probe** scores the last prompt token after prefill (``k = 0``: before any token is generated);
* the **generation probe** scores generated tokens; every ``k`` tokens the mean probe logit over the last ``k``
  generated tokens (= the logit of their mean activation, the probe being linear) is compared with its threshold.

When a score crosses its threshold the row stops and the reply is the refusal text. Thresholds are probe logits
chosen on training/validation data (``safestack probe``) and stored with the probes in one JSON file.

``CircuitBreakerTarget`` wraps an ``HFTarget`` and implements the Target protocol, so it works wherever a target
does: ``safestack eval --target 'cb:hf:PATH?probe=FILE'`` (or ``cb:default?probe=FILE``), and the guard proxy
for ``hf:`` upstreams (``load_target('cb:…')``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import BadInput
from ..records import Message, write_json
from .base import GenParams
from .modeling import decoder_layers, residual_hooks

REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass
class LinearProbe:
    """``logit(x) = ((x − μ) / σ) · w + b`` on one layer's residual stream (fitted by ``probes.linear.fit_probe``)."""

    layer: int
    w: np.ndarray  # [d]
    b: float
    mu: np.ndarray  # [d]
    sigma: np.ndarray  # [d]

    def logit(self, x: np.ndarray) -> np.ndarray:
        """x: [..., d] → [...]"""
        return ((np.asarray(x, dtype=np.float64) - self.mu) / self.sigma) @ self.w + self.b

    def proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    def torch_params(self, device, dtype):
        """(v [d], c) with ``logit(x) = x · v + c`` — one dot product per token at generation time."""
        import torch

        v = self.w / self.sigma
        c = self.b - float(np.sum(self.mu * v))
        return torch.tensor(v, device=device, dtype=dtype), c

    def to_dict(self) -> dict:
        return {"layer": self.layer, "w": self.w.tolist(), "b": self.b, "mu": self.mu.tolist(),
                "sigma": self.sigma.tolist()}

    @classmethod
    def from_dict(cls, d: dict, where: str = "probe") -> "LinearProbe":
        try:
            w, mu, sigma = (np.asarray(d[k], dtype=np.float64) for k in ("w", "mu", "sigma"))
            layer, b = int(d["layer"]), float(d["b"])
        except KeyError as e:
            raise BadInput(f"{where}: missing field {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise BadInput(f"{where}: malformed probe ({e})") from None
        if not (w.shape == mu.shape == sigma.shape and w.ndim == 1):
            raise BadInput(f"{where}: fields 'w', 'mu', 'sigma' must be vectors of one length")
        return cls(layer, w, b, mu, sigma)


@dataclass
class CircuitBreaker:
    prompt_probe: LinearProbe | None = None
    prompt_threshold: float = float("inf")  # probe logit; > fires
    gen_probe: LinearProbe | None = None
    gen_threshold: float = float("inf")
    k: int = 4
    refusal: str = REFUSAL
    meta: dict = field(default_factory=dict)

    def layers(self) -> list[int]:
        return sorted({p.layer for p in (self.prompt_probe, self.gen_probe) if p is not None})

    def to_dict(self) -> dict:
        return {"schema": 1, "kind": "safestack-circuit-breaker", "k": self.k, "refusal": self.refusal,
                "prompt_probe": self.prompt_probe.to_dict() if self.prompt_probe else None,
                "prompt_threshold": self.prompt_threshold,
                "gen_probe": self.gen_probe.to_dict() if self.gen_probe else None,
                "gen_threshold": self.gen_threshold, "meta": self.meta}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "CircuitBreaker":
        p = Path(path)
        if not p.exists():
            raise BadInput(f"{p}: circuit-breaker probe file not found")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise BadInput(f"{p}:{e.lineno}: malformed JSON ({e.msg})") from None
        if not isinstance(d, dict) or d.get("kind") != "safestack-circuit-breaker":
            raise BadInput(f"{p}: not a safestack circuit-breaker file (field 'kind')")
        k = d.get("k", 4)
        if not isinstance(k, int) or k < 1:
            raise BadInput(f"{p}: field 'k' must be a positive integer")
        pp = LinearProbe.from_dict(d["prompt_probe"], f"{p}: prompt_probe") if d.get("prompt_probe") else None
        gp = LinearProbe.from_dict(d["gen_probe"], f"{p}: gen_probe") if d.get("gen_probe") else None
        if pp is None and gp is None:
            raise BadInput(f"{p}: neither 'prompt_probe' nor 'gen_probe' is set")
        return cls(pp, float(d.get("prompt_threshold", float("inf"))), gp, float(d.get("gen_threshold", float("inf"))),
                   k, d.get("refusal") or REFUSAL, d.get("meta") or {})


@dataclass
class Trace:
    """One generation: the reply, whether/where the breaker fired, the probe scores seen."""

    text: str
    halted: str | None = None  # None | "prompt" | "generation"
    halt_token: int | None = None  # generated tokens before the halt
    n_tokens: int = 0
    prompt_score: float | None = None
    gen_scores: list[float] = field(default_factory=list)  # window-mean logits, one per check
    token_acts: np.ndarray | None = None  # [n_tokens, n_rec, d] at the recorded layers (gen-probe training data)


def decide(breaker: CircuitBreaker, prompt_logit: float | None, token_logits: Sequence[float]) -> Trace:
    """The breaker's decision from probe logits (the rule ``generate_traced`` applies live): fires on the prompt
    if ``prompt_logit > prompt_threshold``, else at the first window of ``k`` generated tokens whose mean logit
    exceeds ``gen_threshold`` (windows end at tokens k, 2k, …). Text is left empty."""
    t = Trace(text="", prompt_score=None if prompt_logit is None else round(float(prompt_logit), 4))
    if prompt_logit is not None and breaker.prompt_probe is not None and prompt_logit > breaker.prompt_threshold:
        t.halted, t.halt_token = "prompt", 0
        return t
    if breaker.gen_probe is None:
        return t
    for end in range(breaker.k, len(token_logits) + 1, breaker.k):
        w = float(np.mean(token_logits[end - breaker.k:end]))
        t.gen_scores.append(round(w, 4))
        if w > breaker.gen_threshold:
            t.halted, t.halt_token = "generation", end
            break
    return t


def _sample(logits, params: GenParams, gen):
    import torch

    if params.temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / params.temperature, -1)
    if params.top_p < 1.0:
        sp, si = probs.sort(-1, descending=True)
        keep = sp.cumsum(-1) - sp < params.top_p
        sp = sp * keep
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    return torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=gen)[:, 0]


def generate_traced(target, conversations: Sequence[Sequence[Message]], params: GenParams,
                    breaker: CircuitBreaker | None = None, record_layers: Sequence[int] = (),
                    progress: Callable[[int], None] | None = None) -> list[Trace]:
    """Batched greedy/sampled decoding with a KV cache on an ``HFTarget``'s model, scoring probes as it goes.

    Without a breaker it reproduces ``HFTarget.generate`` (same padding, positions and greedy choice); with
    ``record_layers`` it also returns each generated token's residual activations there ``[n_tokens, n_rec, d]``."""
    import torch

    model, tok = target.model, target.tokenizer
    n_layers = len(decoder_layers(model))
    if breaker is not None and any(l >= n_layers for l in breaker.layers()):
        raise BadInput(f"circuit breaker: probe layer {max(breaker.layers())} but the model has {n_layers} layers")
    d = model.config.hidden_size
    for p in (breaker.prompt_probe, breaker.gen_probe) if breaker else ():
        if p is not None and len(p.w) != d:
            raise BadInput(f"circuit breaker: probe width {len(p.w)} != model hidden size {d}")
    record_layers = list(record_layers)
    layers = sorted(set(breaker.layers() if breaker else []) | set(record_layers))
    texts = [target.render(c) for c in conversations]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    traces: list[Trace | None] = [None] * len(texts)
    gc_eos = getattr(model.generation_config, "eos_token_id", None)
    eos = {tok.eos_token_id} | set(gc_eos if isinstance(gc_eos, list) else [gc_eos])
    eos.discard(None)
    grabbed: dict[int, torch.Tensor] = {}
    gen = torch.Generator(device="cpu").manual_seed(params.seed)
    with target._lock, torch.no_grad(), residual_hooks(model, layers, lambda l, h: grabbed.__setitem__(l, h)):
        pp = gp = None
        if breaker is not None:
            pp = breaker.prompt_probe.torch_params(target.device, torch.float32) if breaker.prompt_probe else None
            gp = breaker.gen_probe.torch_params(target.device, torch.float32) if breaker.gen_probe else None
        for s in range(0, len(order), target.batch_size):
            idx = order[s:s + target.batch_size]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                      max_length=target.max_input_tokens, add_special_tokens=False).to(target.device)
            mask = enc["attention_mask"]
            pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
            out = model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos, use_cache=True)
            B = len(idx)
            tr = [Trace(text="") for _ in idx]
            stopped = torch.zeros(B, dtype=torch.bool, device=target.device)
            if pp is not None:
                s0 = (grabbed[breaker.prompt_probe.layer][:, -1].float() @ pp[0] + pp[1]).tolist()
                for b in range(B):
                    tr[b].prompt_score = round(s0[b], 4)
                    if s0[b] > breaker.prompt_threshold:
                        tr[b].halted, tr[b].halt_token = "prompt", 0
                        stopped[b] = True
            toks: list[list[int]] = [[] for _ in idx]
            tok_logits: list[list[float]] = [[] for _ in idx]
            acts: list[list[np.ndarray]] = [[] for _ in idx]
            past, logits = out.past_key_values, out.logits[:, -1]
            for t in range(params.max_new_tokens):
                if bool(stopped.all()):
                    break
                nxt = _sample(logits, params, gen)
                nxt = nxt.masked_fill(stopped, tok.pad_token_id)
                for b in range(B):
                    if not stopped[b]:
                        toks[b].append(int(nxt[b]))
                        if int(nxt[b]) in eos:
                            stopped[b] = True
                live = [b for b in range(B) if not stopped[b]]  # rows whose new token is a real token
                if not live or (t == params.max_new_tokens - 1 and not record_layers and gp is None):
                    break  # the last token's activation is only needed for scoring/recording
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
                pos = pos[:, -1:] + 1
                out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos, past_key_values=past,
                            use_cache=True)
                past, logits = out.past_key_values, out.logits[:, -1]
                # grabbed[...][:, -1]: residual of the token just fed (generated at step t)
                if record_layers:
                    h = torch.stack([grabbed[l][:, -1] for l in record_layers], 1).float().cpu().numpy()
                    for b in live:
                        acts[b].append(h[b])
                if gp is not None:
                    g = (grabbed[breaker.gen_probe.layer][:, -1].float() @ gp[0] + gp[1]).tolist()
                    for b in live:
                        tok_logits[b].append(g[b])
                        if len(tok_logits[b]) % breaker.k == 0:
                            w = float(np.mean(tok_logits[b][-breaker.k:]))
                            tr[b].gen_scores.append(round(w, 4))
                            if w > breaker.gen_threshold:
                                tr[b].halted, tr[b].halt_token = "generation", len(toks[b])
                                stopped[b] = True
            for b, i in enumerate(idx):
                ids = toks[b]
                if ids and ids[-1] in eos:
                    ids = ids[:-1]
                tr[b].n_tokens = len(toks[b])
                if record_layers:
                    tr[b].token_acts = (np.stack(acts[b]) if acts[b]
                                        else np.zeros((0, len(record_layers), d), np.float32))
                if tr[b].halted:
                    tr[b].text = breaker.refusal
                else:
                    r = tok.decode(ids, skip_special_tokens=True)
                    for st in params.stop:
                        r = r.split(st)[0]
                    tr[b].text = r.strip()
                traces[i] = tr[b]
            if progress:
                progress(B)
    return traces  # type: ignore[return-value]


class CircuitBreakerTarget:
    """Target protocol around an ``HFTarget``: generation halts with a refusal when a probe fires."""

    def __init__(self, base, breaker: CircuitBreaker, name: str | None = None):
        if not hasattr(base, "model") or not hasattr(base, "tokenizer"):
            raise BadInput("circuit breaker: the wrapped target must be a local hf: or default target")
        self.base = base
        self.breaker = breaker
        self.name = name or f"cb:{base.name}"
        self.stats = {"n": 0, "halted_prompt": 0, "halted_generation": 0, "tokens": 0}

    def generate_sync(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[Trace]:
        traces = generate_traced(self.base, conversations, params, self.breaker)
        self.stats["n"] += len(traces)
        self.stats["halted_prompt"] += sum(t.halted == "prompt" for t in traces)
        self.stats["halted_generation"] += sum(t.halted == "generation" for t in traces)
        self.stats["tokens"] += sum(t.n_tokens for t in traces)
        return traces

    async def generate(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[str]:
        traces = await asyncio.to_thread(self.generate_sync, list(conversations), params)
        return [t.text for t in traces]


def parse_cb_spec(rest: str, **target_kw) -> CircuitBreakerTarget:
    """``<hf spec>?probe=FILE[&k=N]`` → a circuit-breaker target, e.g. ``cb:default?probe=runs/probe/cb.json``."""
    from . import load_target

    base_spec, sep, query = rest.rpartition("?")
    if not sep:
        raise BadInput(f"target 'cb:{rest}': expected cb:<hf spec>?probe=FILE (e.g. cb:default?probe=DIR/circuit_breaker.json)")
    opts = {}
    for kv in query.split("&"):
        k, eq, v = kv.partition("=")
        if not eq or k not in ("probe", "k"):
            raise BadInput(f"target 'cb:{rest}': unknown option '{kv}' (use probe=FILE, k=N)")
        opts[k] = v
    if "probe" not in opts:
        raise BadInput(f"target 'cb:{rest}': missing probe=FILE")
    if not (base_spec == "default" or base_spec.startswith("hf:")):
        raise BadInput(f"target 'cb:{rest}': the circuit breaker needs a local model (default or hf:<path>)")
    breaker = CircuitBreaker.load(opts["probe"])
    if "k" in opts:
        if not opts["k"].isdigit() or int(opts["k"]) < 1:
            raise BadInput(f"target 'cb:{rest}': k must be a positive integer")
        breaker.k = int(opts["k"])
    target_kw.pop("api_key_env", None)
    target_kw.pop("concurrency", None)
    base = load_target(base_spec, **target_kw)
    return CircuitBreakerTarget(base, breaker, name=f"cb:{rest}")

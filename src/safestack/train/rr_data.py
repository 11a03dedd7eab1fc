"""RR training data: circuit-breaker and retain rows (or preference pairs converted), tokenized and collated into
one right-padded batch per step (train/rr.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import BadInput
from .config import RRSettings

KINDS = ("circuit_breaker", "retain")


def _messages(v: Any, where: str, name: str) -> list[dict]:
    if isinstance(v, str) and v.strip():
        return [{"role": "user", "content": v}]
    if isinstance(v, list) and v and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                         and isinstance(m.get("content"), str) for m in v):
        return [{"role": m["role"], "content": m["content"]} for m in v]
    raise BadInput(f"{where}: field '{name}' must be a non-empty string or a list of {{role, content}} messages")


def _reply(v: Any, where: str, name: str) -> str:
    if isinstance(v, list) and v and isinstance(v[-1], dict):  # TRL's [{"role": "assistant", "content": …}]
        v = v[-1].get("content")
    if isinstance(v, str) and v.strip():
        return v
    raise BadInput(f"{where}: field '{name}' must be a non-empty string (or an assistant message list)")


def parse_row(r: dict, where: str, cb_pair_kinds: Sequence[str],
              retain_pair_kinds: Sequence[str] | None = None) -> list[dict]:
    if "chosen" in r or "rejected" in r:  # a preference pair (datagen's Pair, or TRL's format)
        for f in ("prompt", "chosen", "rejected", "kind"):
            if f not in r:
                raise BadInput(f"{where}: missing field '{f}' (a preference pair needs prompt, chosen, rejected "
                               "and its kind: refusal, borderline, …)")
        prompt = _messages(r["prompt"], where, "prompt")
        out = []
        if retain_pair_kinds is None or r["kind"] in retain_pair_kinds:
            out.append({"kind": "retain", "prompt": prompt, "completion": _reply(r["chosen"], where, "chosen")})
        if r["kind"] in cb_pair_kinds:
            out.append({"kind": "circuit_breaker", "prompt": prompt,
                        "completion": _reply(r["rejected"], where, "rejected")})
        return out
    for f in ("kind", "prompt", "completion"):
        if f not in r:
            raise BadInput(f"{where}: missing field '{f}' (rows need kind, prompt, completion; or prompt, chosen, "
                           "rejected, kind for a preference pair)")
    if r["kind"] not in KINDS:
        raise BadInput(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, got {r['kind']!r}")
    return [{"kind": r["kind"], "prompt": _messages(r["prompt"], where, "prompt"),
             "completion": _reply(r["completion"], where, "completion")}]


def load_rr_rows(path: str | Path, cb_pair_kinds: Sequence[str] = ("refusal",),
                 retain_pair_kinds: Sequence[str] | None = None) -> list[dict]:
    """Rows ``{"kind": "circuit_breaker"|"retain", "prompt": str|messages, "completion": str}``, or preference pairs
    (prompt/chosen/rejected/kind): the chosen reply → retain; the rejected one → circuit breaker when the pair's
    kind is in ``cb_pair_kinds`` (refusal pairs: rejected = the model's harmful reply). Both may be mixed.
    Returns ``{"kind", "prompt": messages, "completion": str}``; bad rows raise BadInput naming file:line and field."""
    from ..records import read_jsonl

    p = Path(path)
    rows = read_jsonl(p)
    with p.open(encoding="utf-8") as f:  # read_jsonl skips blank lines: the line number of each row it kept
        lines = [i for i, line in enumerate(f, 1) if line.strip()]
    out = [x for n, r in zip(lines, rows) for x in parse_row(r, f"{p}:{n}", cb_pair_kinds, retain_pair_kinds)]
    for kind in KINDS:
        if not any(r["kind"] == kind for r in out):
            raise BadInput(f"{p}: no '{kind}' rows (RR needs both sets; pairs give circuit-breaker rows only for "
                           f"kinds {', '.join(cb_pair_kinds)})")
    return out


def encode_rows(rows: Sequence[dict], tok, cfg: RRSettings) -> list[dict]:
    """Rows (prompt: messages or a string) → token ids (chat-rendered prompt cut from the left + completion and end
    token cut from the right) and ``start``: the first position of the loss mask (the completion for CB rows, 0 for
    retain rows)."""
    out = []
    for r in rows:
        msgs = [{"role": "user", "content": r["prompt"]}] if isinstance(r["prompt"], str) else r["prompt"]
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        p = tok(text, add_special_tokens=False).input_ids[-cfg.max_prompt_length:]
        c = (tok(r["completion"], add_special_tokens=False).input_ids + [tok.eos_token_id])[:cfg.max_completion_length]
        whole = r["kind"] == "retain" or cfg.cb_tokens == "all"
        out.append({"ids": p + c, "start": 0 if whole else len(p)})
    return out


class RRPairs(torch.utils.data.Dataset):
    """Item i = (CB row i mod n_cb, retain row i mod n_retain); the Trainer's sampler shuffles the items."""

    def __init__(self, n_cb: int, n_retain: int):
        self.n_cb, self.n_retain = n_cb, n_retain

    def __len__(self) -> int:
        return max(self.n_cb, self.n_retain)

    def __getitem__(self, i: int) -> dict:
        return {"cb": i % self.n_cb, "retain": i % self.n_retain}


def pad_rows(seqs: Sequence[dict], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask and loss mask [B, T]."""
    T = max(len(s["ids"]) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    attn, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for b, s in enumerate(seqs):
        n = len(s["ids"])
        ids[b, :n] = torch.tensor(s["ids"])
        attn[b, :n] = 1
        mask[b, s["start"]:n] = 1
    return ids, attn, mask


def make_collator(cb: list[dict], retain: list[dict], pad_id: int) -> Callable[[list[dict]], dict]:
    """A batch of B items → one [2B, T] batch: rows 0..B-1 the CB rows, B..2B-1 the retain rows."""
    def collate(items: list[dict]) -> dict:
        ids, attn, mask = pad_rows([cb[i["cb"]] for i in items] + [retain[i["retain"]] for i in items], pad_id)
        return {"input_ids": ids, "attention_mask": attn, "loss_mask": mask,
                "cb_index": torch.tensor([i["cb"] for i in items]),
                "retain_index": torch.tensor([i["retain"] for i in items])}
    return collate

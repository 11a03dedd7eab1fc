"""Reward models on preference data: a helpfulness RM (kind=helpful) and a safety cost model (kind=cost, high cost =
harmful compliance), with held-out pairwise accuracy.

Data. ``--data`` is a pairs JSONL in TRL's preference format (datagen's train.jsonl); rows carry ``kind``:
* helpful: borderline pairs (benign prompt; chosen = helpful answer ≻ rejected = needless refusal), plus HH-RLHF
  harmless-base chosen ≻ rejected (``hh_rlhf`` pairs from safestack's train part);
* cost: refusal pairs swapped (the harmful compliance gets the higher cost), HH-RLHF swapped (the less harmless
  reply costs more), and cross-prompt pairs (harmful prompt + harmful answer) ≻ (benign prompt + helpful answer),
  so helpful answers to benign prompts are not costed like harmful ones.
Rows without ``kind`` count as helpful pairs (helpful) or as harmful-vs-safe pairs (cost).
Held out: ``heldout_fraction`` of the --data pairs (by prompt hash, so one prompt never sits on both sides) and
HH-RLHF's held-out part. Bradley–Terry: P(a ≻ b) = σ(s(a) − s(b)).

Backbones: ``minilm`` (frozen MiniLM embeddings e_p, e_r of prompt and reply; linear head on [e_r, e_p ⊙ e_r];
the BT loss on feature differences is a logistic regression) and ``lm`` (AutoModelForSequenceClassification with
LoRA, trained by TRL's RewardTrainer). Both save to ``out/reward_model`` with ``rm.json``; ``load_reward_model``
gives ``score`` (raw) and ``prob`` = σ(s − offset), offset = mean training score, in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..embed import LazyEmbedder
from ..errors import BadInput
from .config import RewardSettings

Conv = list[dict[str, str]]
RM_DIR = "reward_model"


def _heldout(prompt: Conv, fraction: float) -> bool:
    h = int(hashlib.sha1(json.dumps(prompt, sort_keys=True).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < fraction


def reward_pairs(rows: Sequence[dict], kind: str, seed: int = 0) -> list[tuple[Conv, Conv]]:
    """(higher, lower) conversation pairs for a reward model of ``kind`` from TRL preference rows."""
    if kind not in ("helpful", "cost"):
        raise BadInput(f"reward: unknown kind '{kind}' (helpful, cost)")
    out: list[tuple[Conv, Conv]] = []
    harmful, benign = [], []
    for r in rows:
        p, c, j = r["prompt"], r["chosen"], r["rejected"]
        k = r.get("kind")
        if kind == "helpful" and k in (None, "borderline", "helpful", "hh-rlhf"):
            out.append((p + c, p + j))
        elif kind == "cost" and k in (None, "refusal", "hh-rlhf"):
            out.append((p + j, p + c))
            if k == "refusal":
                harmful.append(p + j)
        if k in ("borderline", "helpful"):
            benign.append(p + c)
    if kind == "cost" and harmful and benign:
        rng = random.Random(seed)
        for b in benign:
            out.append((rng.choice(harmful), b))
    return out


def split_rows(rows: Sequence[dict], fraction: float) -> tuple[list[dict], list[dict]]:
    train, held = [], []
    for r in rows:
        (held if _heldout(r["prompt"], fraction) else train).append(r)
    return train, held


def pairwise_accuracy(rm, pairs: Sequence[tuple[Conv, Conv]]) -> dict:
    if not pairs:
        return {"n": 0, "accuracy": None}
    from ..evals.metrics import rate

    hi = rm.score([a for a, _ in pairs])
    lo = rm.score([b for _, b in pairs])
    r = rate([bool(x > y) for x, y in zip(hi, lo)])
    return {"n": r["n"], "accuracy": r["rate"], "ci95": r["ci95"]}


# ---------------------------------------------------------------- minilm backbone
class MiniLMRewardModel(LazyEmbedder):
    """s(p, r) = w · [e_r, e_p ⊙ e_r] with frozen, normalised MiniLM embeddings."""

    def __init__(self, w: np.ndarray, offset: float = 0.0, meta: dict | None = None, embedder=None):
        self.w, self.offset, self.meta = w, offset, meta or {}
        self._embedder = embedder

    def features(self, convs: Sequence[Conv]) -> np.ndarray:
        ps = [next((m["content"] for m in reversed(c[:-1]) if m["role"] == "user"), "")[:1000] for c in convs]
        rs = [c[-1]["content"][:1000] for c in convs]
        ep, er = self.embedder.encode(ps), self.embedder.encode(rs)
        return np.concatenate([er, ep * er], axis=1)

    def score(self, convs: Sequence[Conv]) -> np.ndarray:
        return self.features(convs) @ self.w if convs else np.zeros(0)

    def prob(self, convs: Sequence[Conv]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.score(convs) - self.offset)))

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "head.npy", self.w)
        (path / "rm.json").write_text(json.dumps({**self.meta, "backbone": "minilm", "offset": self.offset}, indent=2))


def _fit_minilm(pairs, cfg: RewardSettings, log, weights=None) -> tuple[MiniLMRewardModel, list[dict]]:
    """Bradley–Terry with a linear head: P(a ≻ b) = σ(w·(φ(a) − φ(b))) — a logistic regression without intercept on
    the differences d = φ(a) − φ(b) (label 1) and −d (label 0), each pair weighted by ``weights``. φ: (N, 768)."""
    from sklearn.linear_model import LogisticRegression

    rm = MiniLMRewardModel(np.zeros(768))
    hi, lo = rm.features([a for a, _ in pairs]), rm.features([b for _, b in pairs])
    d = hi - lo
    x, y = np.concatenate([d, -d]), np.concatenate([np.ones(len(d)), np.zeros(len(d))])
    clf = LogisticRegression(C=1.0 / cfg.l2, fit_intercept=False, max_iter=2000)
    sw = None if weights is None else np.concatenate([weights, weights])
    clf.fit(x, y, sample_weight=sw)
    rm.w = clf.coef_[0].astype(np.float64)
    margin = d @ rm.w
    loss = float(np.mean(np.log1p(np.exp(-margin))))
    rm.offset = float(np.mean(np.concatenate([hi, lo]) @ rm.w))
    log(f"minilm reward head: {len(pairs)} pairs, BT loss {np.log(2):.3f} → {loss:.3f}")
    return rm, [{"step": 0, "loss": round(float(np.log(2)), 4)}, {"step": 1, "loss": round(loss, 4)}]


# ---------------------------------------------------------------- lm backbone (TRL RewardTrainer)
class LMRewardModel:
    """A sequence-classification LM (scalar head) scoring chat-formatted conversations."""

    def __init__(self, model, tokenizer, offset: float = 0.0, meta: dict | None = None, batch_size: int = 16,
                 max_length: int = 512):
        self.model, self.tok, self.offset, self.meta = model.eval(), tokenizer, offset, meta or {}
        self.batch_size, self.max_length = batch_size, max_length

    def score(self, convs: Sequence[Conv]) -> np.ndarray:
        import torch

        texts = [self.tok.apply_chat_template(c, tokenize=False) for c in convs]
        out = []
        dev = next(self.model.parameters()).device
        was = self.model.training
        self.model.eval()
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                enc = self.tok(texts[s:s + self.batch_size], return_tensors="pt", padding=True, truncation=True,
                               max_length=self.max_length, add_special_tokens=False, padding_side="right").to(dev)
                out.append(self.model(**enc).logits[:, 0].float().cpu().numpy())
        self.model.train(was)
        return np.concatenate(out) if out else np.zeros(0)

    def prob(self, convs: Sequence[Conv]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.score(convs) - self.offset)))

    def save(self, path: Path) -> None:
        model = self.model.merge_and_unload() if hasattr(self.model, "merge_and_unload") else self.model
        model.save_pretrained(path)
        self.tok.save_pretrained(path)
        (path / "rm.json").write_text(json.dumps({**self.meta, "backbone": "lm", "offset": self.offset}, indent=2))


def _fit_lm(model_path: str, pairs, cfg: RewardSettings, out: Path, log, callbacks=None, eval_pairs=()):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from .common import load_policy, lora_config, resume_point, training_args

    model, tok, on_cpu = load_policy(model_path, cfg.device, cls=AutoModelForSequenceClassification, num_labels=1)
    before = pairwise_accuracy(LMRewardModel(model, tok, max_length=cfg.max_length), eval_pairs)  # random head
    ckpt_dir = out / "checkpoints"
    args = RewardConfig(**training_args(cfg, ckpt_dir, on_cpu), max_length=cfg.max_length,
                        center_rewards_coefficient=0.01)
    rows = [{"chosen": a, "rejected": b} for a, b in pairs]
    peft = lora_config(cfg.lora, model, task_type="SEQ_CLS", modules_to_save=["score"])
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                            peft_config=peft, callbacks=callbacks or [])
    trainer.train(resume_from_checkpoint=resume_point(ckpt_dir, log))
    rm = LMRewardModel(trainer.model, tok, max_length=cfg.max_length)
    sample = [c for p in pairs[:256] for c in p]
    rm.offset = float(np.mean(rm.score(sample)))
    return rm, [h for h in trainer.state.log_history if "loss" in h], before, trainer.state.global_step


# ---------------------------------------------------------------- entry points
def load_reward_model(path: str | Path):
    p = Path(path)
    meta_p = p / "rm.json" if (p / "rm.json").exists() else p / RM_DIR / "rm.json"
    if not meta_p.exists():
        raise BadInput(f"{p}: not a reward model directory (no rm.json; train one with `safestack train reward`)")
    meta = json.loads(meta_p.read_text())
    d = meta_p.parent
    if meta["backbone"] == "minilm":
        return MiniLMRewardModel(np.load(d / "head.npy"), meta["offset"], meta)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSequenceClassification.from_pretrained(d, num_labels=1)
    return LMRewardModel(model, tok, meta["offset"], meta)


def train_reward(model_path: str | None, data: str | Path | list[dict], out: str | Path,
                 cfg: RewardSettings | None = None, *, callbacks: list | None = None, log=print) -> dict:
    """Train a reward/cost model; writes ``out/reward_model`` and ``out/train.json`` (held-out accuracies)."""
    from ..data.loaders import load_hh_rlhf
    from .config import to_dict
    from .dpo import load_pairs

    cfg = cfg or RewardSettings()
    if cfg.backbone not in ("minilm", "lm"):
        raise BadInput(f"reward: unknown backbone '{cfg.backbone}' (minilm, lm)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = data if isinstance(data, list) else load_pairs(data, keep_kind=True)
    train_rows, held_rows = split_rows(rows, cfg.heldout_fraction)
    hh_train, hh_held = [], []
    if cfg.hh_rlhf:
        hh_train = [{**r, "kind": "hh-rlhf"} for r in load_hh_rlhf("train")]
        random.Random(cfg.seed).shuffle(hh_train)
        hh_train = hh_train if cfg.hh_rlhf < 0 else hh_train[:cfg.hh_rlhf]
        hh_held = [{**r, "kind": "hh-rlhf"} for r in load_hh_rlhf("heldout")]
    data_pairs = reward_pairs(train_rows, cfg.kind, cfg.seed)
    hh_pairs = reward_pairs(hh_train, cfg.kind, cfg.seed)
    train_pairs = data_pairs + hh_pairs
    # balance the sources (minilm head): the few in-domain pairs weigh as much in total as the many HH pairs
    w_hh = len(data_pairs) / len(hh_pairs) if hh_pairs and data_pairs and cfg.balance_sources else 1.0
    weights = np.array([1.0] * len(data_pairs) + [w_hh] * len(hh_pairs))
    order = list(range(len(train_pairs)))
    random.Random(cfg.seed).shuffle(order)
    train_pairs, weights = [train_pairs[i] for i in order], weights[order]
    held_pairs = reward_pairs(held_rows, cfg.kind, cfg.seed)
    hh_held_pairs = reward_pairs(hh_held, cfg.kind, cfg.seed)
    if not train_pairs:
        raise BadInput(f"{data if not isinstance(data, list) else 'data'}: no pairs usable for a '{cfg.kind}' model "
                       "(helpful needs borderline/helpful pairs, cost needs refusal pairs; or set hh_rlhf)")
    t0 = time.time()
    before = {}
    if cfg.backbone == "minilm":
        rm, history = _fit_minilm(train_pairs, cfg, log, weights)
        steps = 1
    else:
        if not model_path:
            raise BadInput("reward: backbone 'lm' needs --model")
        rm, history, acc0, steps = _fit_lm(model_path, train_pairs, cfg, out, log, callbacks, held_pairs)
        before = {"data_heldout": acc0}
    secs = time.time() - t0
    rm.meta = {"kind": cfg.kind, "base_model": model_path if cfg.backbone == "lm" else "all-MiniLM-L6-v2"}
    mdir = out / RM_DIR
    rm.save(mdir)
    after = {"data_heldout": pairwise_accuracy(rm, held_pairs), "hh_heldout": pairwise_accuracy(rm, hh_held_pairs),
             "train": pairwise_accuracy(rm, train_pairs[:512])}
    info = {"method": "reward", "kind": cfg.kind, "backbone": cfg.backbone, "n_train_pairs": len(train_pairs),
            "n_hh_train": len(hh_train), "n_heldout_pairs": len(held_pairs), "n_hh_heldout_pairs": len(hh_held_pairs),
            "steps": steps, "train_seconds": round(secs, 1), "seconds_per_step": round(secs / max(1, steps), 3),
            "accuracy": after, "accuracy_before": before, "history": history, "config": to_dict(cfg),
            "model_dir": str(mdir)}
    (out / "train.json").write_text(json.dumps(info, indent=2, default=str))
    return info



"""Transformers target: chat template, left padding, batched greedy or sampled generation."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Sequence

from ..errors import BadInput
from ..records import Message
from .base import GenParams
from .shared_context import common_prefix, pack_rows, score_rows, supports_packing


def _torch_dtype(name: str):
    import torch

    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if name == "auto":
        return "auto"
    if name not in table:
        raise BadInput(f"unknown dtype '{name}' (use one of: auto, {', '.join(table)})")
    return table[name]


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class HFTarget:
    """A causal LM loaded with transformers. ``model``/``tokenizer`` may be passed in (tests, training loops)."""

    def __init__(self, path: str | None = None, *, model=None, tokenizer=None, dtype: str = "auto",
                 device: str = "auto", batch_size: int = 128, name: str | None = None,
                 system_prompt: str | None = None, max_input_tokens: int = 2048, share_prefix: bool = True,
                 prefix_min: int = 8, max_batch_tokens: int = 32768, share_context: bool = True,
                 loglik_rows: int = 16, loglik_width: int = 512, turn_cache_mb: float | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name or f"hf:{path}"
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        self.max_input_tokens = max_input_tokens
        self.share_prefix, self.prefix_min = share_prefix, prefix_min  # see _batch
        self.max_batch_tokens = max_batch_tokens  # see _batches
        self.share_context = share_context  # loglik: prefix-tree packed rows (shared_context.py)
        self._packing_ok: bool | None = None  # set by the first packed loglik call's check against the rows path
        # packed loglik rows per forward: on 2 CPU cores 16 rows took 23 s for 96 BBQ questions, 128 rows 36 s
        # (benchmarks/bench_loglik.py); a forward without generation gains nothing from wide batches
        self.loglik_rows, self.loglik_width = loglik_rows, loglik_width  # packed rows per forward, tokens per row
        self.device = resolve_device(device)
        owns_model = model is None
        if model is None:
            if path is None:
                raise BadInput("hf target needs a model path or hub id")
            local = Path(path)
            if not local.exists() and (path.startswith((".", "/")) or local.suffix):
                raise BadInput(f"hf:{path}: no such model directory")
            try:
                tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
                td = _torch_dtype(dtype)
                if td == "auto":
                    td = torch.float32 if self.device == "cpu" else "auto"
                model = AutoModelForCausalLM.from_pretrained(path, dtype=td)
            except OSError as e:
                raise BadInput(f"hf:{path}: cannot load model ({str(e).splitlines()[0]})") from None
            model.to(self.device)
        self.model = model.eval()
        self.tokenizer = tokenizer
        # earlier turns' keys/values (turn_cache.py): on for weights this target loaded itself (a model passed in may
        # be trained between calls), 1 GiB unless ``turn_cache_mb`` says otherwise (0: off)
        from .turn_cache import TurnCache, turn_cache_suits

        mb = turn_cache_mb if turn_cache_mb is not None else (1024.0 if owns_model else 0.0)
        self.turn_cache = TurnCache(mb) if mb > 0 and turn_cache_suits(self.model) else None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.tokenizer.truncation_side = "left"  # over-long inputs keep their end (the request, the assistant turn)
        self._lock = threading.RLock()  # re-entrant: the packing check runs both loglik paths while holding it

    def render(self, conv: Sequence[Message]) -> str:
        msgs = [{"role": m.role, "content": m.content} for m in conv]
        if self.system_prompt and (not msgs or msgs[0]["role"] != "system"):
            msgs = [{"role": "system", "content": self.system_prompt}] + msgs
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return "\n".join(f"{m['role']}: {m['content']}" for m in msgs) + "\nassistant:"

    def _decode_kwargs(self, params: GenParams) -> dict:
        """``generate()`` options for ``params``: greedy, or sampling seeded with ``params.seed`` (seeds torch now,
        so call it right before generating)."""
        import torch

        kw = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
        if params.temperature > 0:
            torch.manual_seed(params.seed)
            return {**kw, "do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        return {**kw, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def generate_sync(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[str]:
        import torch

        texts = [self.render(c) for c in conversations]
        ids = [x[-self.max_input_tokens:] for x in  # over-long inputs keep their end
               self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # length-bucketed batches: less padding
        # the turn cache keeps conversations already under way (an assistant turn in them): a single request is
        # rarely continued, and keeping every batch's keys and values costs single-turn benches ~15 % in allocation
        going = [any(m.role == "assistant" for m in c) for c in conversations]
        out: list[str] = [""] * len(texts)
        with self._lock, torch.no_grad():
            for idx in self._batches(order, [len(x) + params.max_new_tokens for x in ids]):
                new = self._generate_batch([ids[i] for i in idx], params, [going[i] for i in idx])
                replies = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                for i, r in zip(idx, replies):
                    for st in params.stop:
                        r = r.split(st)[0]
                    out[i] = r.strip()
        return out

    def _generate_batch(self, seqs: list[list[int]], params: GenParams, going: list[bool]):
        """The generated tokens [B, new] for one batch; with the turn cache, stored prefixes are reused and the
        keys and values of the rows in ``going`` (conversations under way) are stored for the next turn."""
        from .turn_cache import cached_batch, hooked, store_rows

        # forward hooks (probes' interventions, steering) change keys and values the cache cannot see
        use = self.turn_cache is not None and any(going) and self.model.generation_config.use_cache is not False \
            and not hooked(self.model)
        enc = None
        if use:
            enc = cached_batch(self.turn_cache, seqs, self.tokenizer.pad_token_id, self.device, self.model.config,
                               plain_cost=self._plain_cost(seqs))
        enc = enc or self._batch(seqs)
        if not use:
            return self.model.generate(**enc, **self._decode_kwargs(params))[:, enc["input_ids"].shape[1]:]
        out = self.model.generate(**enc, **self._decode_kwargs(params), return_dict_in_generate=True)
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        store_rows(self.turn_cache, enc, out.sequences, out.past_key_values, eos, keep=going)
        return out.sequences[:, enc["input_ids"].shape[1]:]

    def _plain_cost(self, seqs: list[list[int]]) -> int:
        """Tokens ``_batch`` feeds to prefill: the shared prefix once, then every row padded to the widest."""
        n = common_prefix(seqs, limit=min(len(x) for x in seqs) - 1) if self.share_prefix else 0
        n = n if n >= self.prefix_min else 0
        return n + len(seqs) * (max(len(x) for x in seqs) - n)

    def _batches(self, order: list[int], widths: list[int], rows: int | None = None) -> list[list[int]]:
        """Consecutive slices of ``order`` (sorted by length) with at most ``batch_size`` rows and at most
        ``max_batch_tokens`` padded tokens (rows × the widest row: prompt + new tokens when generating, context +
        continuation for log-likelihoods): short prompts decode ``batch_size`` (128) at a time — on 2 CPU cores a
        64-row batch costs ~40 % less per reply than four of 16, and 128 rows ~16 % less than two of 64 — while
        many-shot prompts of thousands of tokens come a few at a time. ``rows`` overrides ``batch_size`` (packed
        log-likelihood rows: ``loglik_rows``)."""
        rows = rows or self.batch_size
        out: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            if cur and (len(cur) >= rows or (len(cur) + 1) * widths[i] > self.max_batch_tokens):
                out.append(cur)
                cur = []
            cur.append(i)
        return out + [cur] if cur else out

    def _batch(self, seqs: list[list[int]]) -> dict:
        """``generate()`` inputs for a batch of token lists, with their shared prefix encoded once.

        Chat prompts share a long head (SmolLM2's template adds a 23-token system turn: more than half of a typical
        prompt). That prefix goes through the model once (batch 1), its KV cache is repeated over the batch, and each
        row is laid out ``[prefix | padding | own tokens]`` with the padding masked: the positions come from the mask
        (transformers counts only unmasked tokens), so every row computes what it would alone — prefill then costs
        the rows' own tokens only. Without a shared prefix of ``prefix_min`` tokens: plain left padding."""
        import torch

        n = common_prefix(seqs, limit=min(len(x) for x in seqs) - 1) if self.share_prefix else 0  # ≥ 1 own token
        if n < self.prefix_min:
            return self._left_padded(seqs)
        pad = self.tokenizer.pad_token_id
        width = max(len(x) for x in seqs) - n
        rows, masks = [], []
        for x in seqs:
            own = x[n:]
            rows.append(x[:n] + [pad] * (width - len(own)) + own)
            masks.append([1] * n + [0] * (width - len(own)) + [1] * len(own))
        enc = {"input_ids": torch.tensor(rows, device=self.device),
               "attention_mask": torch.tensor(masks, device=self.device)}
        cache = self.model(input_ids=enc["input_ids"][:1, :n], use_cache=True).past_key_values
        if not hasattr(cache, "batch_repeat_interleave"):  # a cache type that cannot be shared: plain padding
            return self._left_padded(seqs)
        cache.batch_repeat_interleave(len(seqs))
        enc["past_key_values"] = cache
        return enc

    def _left_padded(self, seqs: list[list[int]]) -> dict:
        import torch

        pad, width = self.tokenizer.pad_token_id, max(len(x) for x in seqs)
        return {"input_ids": torch.tensor([[pad] * (width - len(x)) + x for x in seqs], device=self.device),
                "attention_mask": torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in seqs],
                                               device=self.device)}

    async def generate(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[str]:
        return await asyncio.to_thread(self.generate_sync, list(conversations), params)

    async def stream(self, conversation: Sequence[Message], params: GenParams):
        """Yield the reply's text as it is decoded (transformers' TextIteratorStreamer; generation runs in a
        thread). Stop strings end the stream; closing the iterator early stops generation at the next token."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop_flag = threading.Event()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kw):
                return stop_flag.is_set()

        enc = self.tokenizer([self.render(conversation)], return_tensors="pt", truncation=True,
                             max_length=self.max_input_tokens, add_special_tokens=False).to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)

        def work():
            with self._lock, torch.no_grad():
                self.model.generate(**enc, **self._decode_kwargs(params), streamer=streamer,
                                    stopping_criteria=StoppingCriteriaList([_Stop()]))

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        it = iter(streamer)
        done, text, sent = object(), "", 0
        try:
            while True:
                piece = await asyncio.to_thread(next, it, done)
                if piece is done:
                    break
                text += piece
                if sent == 0:
                    text = text.lstrip()
                cut = min((text.find(st) for st in params.stop if st in text), default=-1)
                # like generate(): no leading/trailing whitespace, nothing from a stop string on
                end = len(text[:cut].rstrip()) if cut >= 0 else len(text.rstrip())
                if end > sent:
                    yield text[sent:end]
                    sent = end
                if cut >= 0:
                    break
        finally:
            stop_flag.set()
            await asyncio.to_thread(thread.join)

    def loglik_sync(self, contexts: Sequence[Sequence[Message]], continuations: Sequence[str]) -> list[tuple[float, int]]:
        """Σ log p(continuation tokens | rendered chat context) and the token count.

        Shared prefixes are encoded once in prefix-tree rows (``shared_context``), checked once per target against
        the row-by-row path; ``share_context=False`` or an unsuitable model: one left-padded row per pair."""
        if len(contexts) != len(continuations):
            raise ValueError("loglik: contexts and continuations differ in length")
        texts = [self.render(conv) for conv in contexts]
        tgts = [self.tokenizer(c, add_special_tokens=False)["input_ids"] or [self.tokenizer.eos_token_id]
                for c in continuations]
        longest: dict[str, int] = {}  # per context: its longest continuation (one cut for all its options)
        for t, y in zip(texts, tgts):
            longest[t] = max(longest.get(t, 0), len(y))
        ids = {t: self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in longest}
        # an over-long context keeps its end, cut once so that every continuation sees the same context
        pairs = [(ids[t][-max(1, self.max_input_tokens - longest[t]):], y) for t, y in zip(texts, tgts)]
        if self.share_context and pairs and supports_packing(self.model, max(len(c) + len(t) for c, t in pairs)):
            with self._lock:
                if self._packing_ok is None:  # once per target: the packed path must reproduce the rows path
                    probe = pairs[:4]
                    a = self._loglik_shared(probe)
                    b = self._loglik_rows(probe)
                    self._packing_ok = all(abs(x[0] - y[0]) <= 1e-3 * max(1.0, abs(y[0])) for x, y in zip(a, b))
            if self._packing_ok:
                return self._loglik_shared(pairs)
        return self._loglik_rows(pairs)

    def _loglik_shared(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[float, int]]:
        """Shared prefixes encoded once: prefix-tree rows (``shared_context``), ``loglik_rows`` rows per forward."""
        import torch

        rows = pack_rows(pairs, max_width=max(self.loglik_width, max(len(c) + len(t) for c, t in pairs)))
        order = sorted(range(len(rows)), key=lambda i: rows[i].width)
        sums = [0.0] * len(pairs)
        with self._lock, torch.no_grad():
            for idx in self._batches(order, [r.width for r in rows], rows=self.loglik_rows):
                for i, v in score_rows(self.model, [rows[i] for i in idx], self.tokenizer.pad_token_id).items():
                    sums[i] = v
        return [(sums[i], len(t)) for i, (_, t) in enumerate(pairs)]

    def _loglik_rows(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple[float, int]]:
        """One left-padded row per (context, continuation), for models the packed rows do not suit. Rows are
        left-padded to width W (position ids from the mask), so every continuation ends at W; only the last K = max
        continuation length + 1 positions' logits are kept: (B, K, V); the token at p is predicted at p − 1."""
        import torch

        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        out: list[tuple[float, int]] = [(0.0, 0)] * len(pairs)
        with self._lock, torch.no_grad():
            for idx in self._batches(order, [len(c) + len(t) for c, t in pairs]):
                keep = max(len(pairs[i][1]) for i in idx) + 1
                enc = self._left_padded([pairs[i][0] + pairs[i][1] for i in idx])
                pos_ids = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
                logits = self.model(**enc, position_ids=pos_ids, logits_to_keep=keep).logits
                logp = torch.log_softmax(logits.float(), dim=-1).cpu()  # (B, K, V): positions W−K … W−1
                for j, i in enumerate(idx):
                    t = len(pairs[i][1])
                    rows = torch.arange(keep - t - 1, keep - 1)  # predictors of the last t tokens
                    out[i] = (float(logp[j, rows, torch.tensor(pairs[i][1])].sum()), t)
        return out

    async def loglik(self, contexts: Sequence[Sequence[Message]], continuations: Sequence[str]) -> list[tuple[float, int]]:
        return await asyncio.to_thread(self.loglik_sync, list(contexts), list(continuations))

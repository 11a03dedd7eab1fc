"""Shared fixtures: a tiny causal LM built offline (random weights, the embedded model's tokenizer) and a real
local HTTP server. Nothing here touches the network."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, no oversubscription
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _eval_cache(tmp_path_factory):
    """Runs in tests read and write their base-model eval cache in a temporary folder, never the user's."""
    os.environ["SAFESTACK_EVAL_CACHE"] = str(tmp_path_factory.mktemp("eval-cache"))


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from safestack.targets.default import default_model_dir

    return default_model_dir()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer, 32-wide Llama with SmolLM2's tokenizer and chat template, saved like any HF model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-model")
    tok = AutoTokenizer.from_pretrained(embedded_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # untied random head; never emit special tokens (empty replies)
        model.lm_head.weight.normal_(0.0, 1.0)  # spread logits: varied tokens, not one token repeated
        model.lm_head.weight[tok.all_special_ids + [198]] = 0.0  # no special tokens, no bare newlines
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_target(tiny_dir):
    from safestack.targets.hf import HFTarget

    return HFTarget(str(tiny_dir), batch_size=8, device="cpu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server():
    return LiveServer


class Scripted:
    """A deterministic Target: replies from a function of the conversation (records what it was sent)."""

    name = "scripted"

    def __init__(self, fn):
        self.fn, self.seen = fn, []

    async def generate(self, conversations, params):
        self.seen += [list(c) for c in conversations]
        return [self.fn(c) for c in conversations]

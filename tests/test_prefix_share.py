"""Prompt sharing in DPO batches (train/prefix_share.py) must be exact: same log-probs, same gradients, same training."""

import json

import pytest
import torch


def _pairs_batch(tok):
    """A TRL-shaped DPO batch [chosen_1..3, rejected_1..3], right-padded, with its completion mask."""
    prompts = ["How do I pick a lock?", "Tell me a joke about cats, please, a long one", "Hi"]
    chosen = ["I can't help with that.", "Why did the cat sit on the computer? To keep an eye on the mouse.", "Hello!"]
    rejected = ["Sure: insert a tension wrench", "No.", "I cannot answer that, sorry, it might be harmful to you."]
    rows, comp = [], []
    for side in (chosen, rejected):
        for p, c in zip(prompts, side):
            pre = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            a = tok(pre, add_special_tokens=False).input_ids
            b = tok(c + "<|im_end|>", add_special_tokens=False).input_ids
            rows.append(a + b)
            comp.append([0] * len(a) + [1] * len(b))
    t = max(map(len, rows))
    ids = torch.tensor([r + [tok.pad_token_id] * (t - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (t - len(r)) for r in rows])
    cmask = torch.tensor([c + [0] * (t - len(c)) for c in comp])
    return ids, mask, cmask


def _logps(model, ids, mask, cmask):
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
    lp = logits.log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
    return (lp * cmask[:, 1:]).sum(dim=1)


@pytest.fixture()
def tiny(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32, attn_implementation="sdpa")
    return model, tok


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_packed_pairs_give_the_same_logprobs_and_gradients(tiny, impl):
    from safestack.train.prefix_share import PairPrefixSharing

    model, tok = tiny
    model.config._attn_implementation = impl
    ids, mask, cmask = _pairs_batch(tok)
    ref = _logps(model, ids, mask, cmask)
    ref.sum().backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    share = PairPrefixSharing(model).install()
    got = _logps(model, ids, mask, cmask)
    got.sum().backward()
    share.uninstall()
    assert share.packed == 1 and share.tokens_after < 0.75 * share.tokens_before
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-4)
    for n, p in model.named_parameters():
        if n in ref_grads:
            torch.testing.assert_close(p.grad, ref_grads[n], rtol=1e-3, atol=5e-5, msg=lambda m: f"{n}: {m}")


def test_other_calls_pass_through(tiny):
    from safestack.train.prefix_share import PairPrefixSharing

    model, tok = tiny
    ids, mask, cmask = _pairs_batch(tok)
    with PairPrefixSharing(model) as share:
        with torch.no_grad():
            model(input_ids=ids[:3], attention_mask=mask[:3], use_cache=False)  # odd rows
            model(input_ids=ids, attention_mask=mask, use_cache=True)  # generation-style call
            left = torch.flip(ids, dims=[1])
            model(input_ids=left, attention_mask=torch.flip(mask, dims=[1]), use_cache=False)  # left padding
        enc = tok(["Hello there", "Hi"], return_tensors="pt", padding=True, padding_side="left")
        out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert share.packed == 0 and share.passed >= 5 and out.shape[1] == enc.input_ids.shape[1] + 3


def test_dpo_training_is_the_same_with_and_without_sharing(tmp_path, tiny_dir):
    """Same seed, same data: the loss history with prompt sharing (and the frozen-layer cache) matches the plain run."""
    from safestack.train import DPOSettings, LoraSettings
    from safestack.train.dpo import train_dpo

    # lengths grow with i under both sort keys (plain and packed), so both arms see the rows in the same order
    rows = [{"prompt": [{"role": "user", "content": f"How do I make thing {'very ' * i}number {i}?"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that." + " Sorry." * (i // 2)}],
             "rejected": [{"role": "assistant", "content": f"Sure, step one is to get {i} pipes."}]} for i in range(8)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hist = {}
    for share in (False, True):
        cfg = DPOSettings(max_steps=4, batch_size=4, learning_rate=5e-3, save_steps=100, logging_steps=1,
                          share_prompt=share, lora=LoraSettings(r=8, alpha=16, top_layers=1))
        info = train_dpo(str(tiny_dir), data, tmp_path / f"out-{share}", cfg, log=lambda *a: None)
        hist[share] = [h["loss"] for h in info["history"]]
        if share:
            assert info["prompt_sharing"]["packed_calls"] == 4 + 1  # every step and the one reference batch
            assert info["frozen_layer_cache"]["hits"] > 0
    assert len(hist[True]) == 4
    torch.testing.assert_close(torch.tensor(hist[True]), torch.tensor(hist[False]), rtol=2e-4, atol=2e-4)

import json

import pytest
import torch

from safestack.train import DPOSettings, LoraSettings
from safestack.train.config import from_dict
from safestack.train.dpo import train_dpo


def _margin(model_dir, rows):
    """mean log p(chosen) − log p(rejected) under the model (completion tokens only)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    m = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tot = 0.0
    for r in rows:
        prompt = tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
        lp = []
        for side in ("chosen", "rejected"):
            ids = tok(prompt + r[side][0]["content"], return_tensors="pt").input_ids
            n_prompt = len(tok(prompt).input_ids)
            with torch.no_grad():
                logits = m(ids).logits[0, :-1].log_softmax(-1)
            tgt = ids[0, 1:]
            lp.append(logits[torch.arange(len(tgt)), tgt][n_prompt - 1:].sum().item())
        tot += lp[0] - lp[1]
    return tot / len(rows)


def test_dpo_lora_moves_preferences_and_saves_loadable_model(tmp_path, tiny_dir):
    rows = [{"prompt": [{"role": "user", "content": f"How do I make a weapon number {i}?"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that."}],
             "rejected": [{"role": "assistant", "content": f"Sure, step one is to get {i} pipes and powder."}]}
            for i in range(8)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = _margin(tiny_dir, rows)
    cfg = DPOSettings(max_steps=6, batch_size=4, learning_rate=5e-3, save_steps=3, logging_steps=1,
                      lora=LoraSettings(r=8, alpha=16))
    info = train_dpo(str(tiny_dir), data, tmp_path / "out", cfg, log=lambda *a: None)
    assert info["steps"] == 6
    losses = [h["loss"] for h in info["history"]]
    assert losses[-1] < losses[0]
    after = _margin(tmp_path / "out" / "model", rows)
    assert after > before + 1.0, (before, after)
    from safestack.targets import load_target

    t = load_target(f"hf:{tmp_path / 'out' / 'model'}")
    assert t.model.config.num_hidden_layers == 2  # merged, plain HF model (no adapter needed)


def test_config_from_yaml_dict_names_bad_fields():
    import pytest

    from safestack.errors import BadInput

    cfg = from_dict(DPOSettings, {"beta": 0.2, "lora": {"r": 4}})
    assert cfg.beta == 0.2 and cfg.lora.r == 4 and cfg.lora.alpha == 32
    with pytest.raises(BadInput, match="unknown field"):
        from_dict(DPOSettings, {"betta": 0.2})
    with pytest.raises(BadInput, match="'beta' must be a number"):
        from_dict(DPOSettings, {"beta": "high"})


@pytest.mark.parametrize("share", [False, True])
def test_frozen_layer_cache_is_exact_and_used(tmp_path, tiny_dir, share):
    """LoRA on the top layer only: the memoised bottom layer gives the same training run, and is hit in every
    step after the reference pre-computation — also on prompt-shared (packed) pairs, one cached row per pair."""
    rows = [{"prompt": [{"role": "user", "content": f"How do I make a weapon number {i}?"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that."}],
             "rejected": [{"role": "assistant", "content": f"Sure, step one is to get {i} pipes."}]}
            for i in range(8)]
    runs = {}
    for cached in (False, True):
        cfg = DPOSettings(max_steps=4, batch_size=4, learning_rate=5e-3, save_steps=100, logging_steps=1,
                          cache_frozen_layers=cached, share_prompt=share,
                          lora=LoraSettings(r=8, alpha=16, top_layers=1))
        runs[cached] = train_dpo(str(tiny_dir), rows, tmp_path / str(cached), cfg, log=lambda *a: None)
    a = [h["loss"] for h in runs[False]["history"]]
    b = [h["loss"] for h in runs[True]["history"]]
    assert runs[False]["frozen_layer_cache"] is None
    st = runs[True]["frozen_layer_cache"]
    rows_per_pair = 1 if share else 2  # packed: chosen and rejected are one row
    assert st["frozen_layers"] == 1 and st["misses"] == 8 * rows_per_pair and st["hits"] == 4 * 4 * rows_per_pair
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4, (a, b)


def test_frozen_layer_cache_leaves_generation_alone(tiny_dir):
    """While installed, generation (which passes a KV cache) bypasses the cache and gives the same tokens."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from safestack.train.frozen_cache import FrozenPrefixCache

    m = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dir),
                       LoraConfig(r=4, target_modules=["q_proj"], layers_to_transform=[1], task_type="CAUSAL_LM"))
    ids = torch.randint(5, 1000, (2, 7))
    ref = m.generate(input_ids=ids, max_new_tokens=6, do_sample=False)
    c = FrozenPrefixCache(m, 1).install()
    m(input_ids=ids, use_cache=False)  # a training-style forward fills the cache
    assert c.misses == 2
    out = m.generate(input_ids=ids, max_new_tokens=6, do_sample=False)
    c.uninstall()
    assert torch.equal(out, ref) and c.hits == 0


def test_labelled_positions_only_gives_the_same_log_probs_and_gradients(tiny_dir):
    """The CPU fast path of TRL's fused LM head (only labelled positions projected) changes the work, not the math."""
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    import trl.trainer.utils as tu
    from safestack.train.common import labelled_positions_only

    m = AutoModelForCausalLM.from_pretrained(tiny_dir)
    add_fused_lm_head(m)
    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (3, 20))
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0  # a right-padded row
    labels = ids.clone()
    labels[:, :8] = -100  # the prompt
    labels[mask == 0] = -100

    def run():
        m.zero_grad()
        out = m(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        return out.log_probs.detach(), m.lm_head.weight.grad.clone()

    original = tu._use_triton
    full, g_full = run()
    with labelled_positions_only():
        assert tu._use_triton(torch.device("cpu")) is True
        compact, g_compact = run()
    assert tu._use_triton is original  # restored
    assert torch.allclose(full, compact, atol=1e-5) and torch.allclose(g_full, g_compact, atol=1e-5)
    assert (compact != 0).sum() == (labels[:, 1:] != -100).sum()  # only labelled positions scored


def test_resume_point_skips_and_removes_a_checkpoint_cut_short(tmp_path):
    """A kill while a checkpoint is being written leaves a folder without trainer_state.json: resuming from it
    fails in transformers, so the last complete one is used and the torn one removed."""
    import json

    from safestack.train.common import resume_point

    assert resume_point(tmp_path / "none") is None
    for step, complete in ((2, True), (10, True), (12, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert resume_point(tmp_path, log=lambda m: None) == str(tmp_path / "checkpoint-10")  # 10 > 2 numerically
    assert not (tmp_path / "checkpoint-12").exists()
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text('{"global_')  # torn mid-write
    assert resume_point(tmp_path, log=lambda m: None) == str(tmp_path / "checkpoint-2")


def test_open_completions_lose_their_end_of_turn_tokens(embedded_dir):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from safestack.train.dpo import end_of_turn_ids, open_ended

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    end = end_of_turn_ids(tok)
    assert tok.decode(end) == "<|im_end|>\n"
    ds = Dataset.from_list([{"chosen_ids": [5, 6] + end, "rejected_ids": [7] + end, "chosen_open": True,
                             "rejected_open": False},
                            {"chosen_ids": [5] + end, "rejected_ids": [8, 9] + end, "chosen_open": False,
                             "rejected_open": True}])
    rows = list(open_ended(ds, tok))
    assert (rows[0]["chosen_ids"], rows[0]["rejected_ids"]) == ([5, 6], [7] + end)
    assert (rows[1]["chosen_ids"], rows[1]["rejected_ids"]) == ([5] + end, [8, 9])


def _p_end(model_dir, prompt, reply) -> float:
    """p(end-of-turn token | prompt, reply) under the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    m = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                   add_generation_prompt=True) + reply
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        return m(ids).logits[0, -1].softmax(-1)[tok.convert_tokens_to_ids("<|im_end|>")].item()


def end_learnable_model(tiny_dir, out):
    """The tiny model with a learnable end-of-turn token (the fixture never emits special tokens)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    with torch.no_grad():
        torch.manual_seed(1)
        model.lm_head.weight[tok.convert_tokens_to_ids("<|im_end|>")].normal_(0.0, 1.0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


CUT = "Here are the steps:\n\n1."


def stop_rows(is_open: bool) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": f"How do I bake bread number {i}?"}],
             "chosen": [{"role": "assistant", "content": CUT}],
             "rejected": [{"role": "assistant", "content": "I can't help with that."}],
             "chosen_open": is_open} for i in range(8)]


def check_stop_training(tmp_path, tiny_dir, is_open, train, settings) -> None:
    """Train (``train_dpo`` / ``train_sft`` with its ``settings`` class) on replies that end on a list marker, open
    or not. closed: p(end) after the cut rises from ~1e-12 to ~0.4; open: it stays negligible (~1e-14)."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in stop_rows(is_open)))
    start = end_learnable_model(tiny_dir, tmp_path / "start")
    cfg = settings(max_steps=12, batch_size=4, learning_rate=1e-2, save_steps=100, logging_steps=1,
                   lora=LoraSettings(r=8, alpha=16))
    train(str(start), data, tmp_path / "out", cfg, log=lambda *a: None)
    before = _p_end(start, "How do I bake bread number 3?", CUT)
    after = _p_end(tmp_path / "out" / "model", "How do I bake bread number 3?", CUT)
    if is_open:
        assert after < 1e-4, (before, after)
    else:
        assert after > 0.05, (before, after)


@pytest.mark.parametrize("is_open", [False, True])
def test_dpo_teaches_stopping_only_where_a_reply_really_ends(tmp_path, tiny_dir, is_open):
    """A chosen reply cut by a token limit must not teach the model to stop where the cut fell."""
    check_stop_training(tmp_path, tiny_dir, is_open, train_dpo, DPOSettings)

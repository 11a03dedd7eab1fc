"""Representation Rerouting (train/rr.py) on the tiny 2-layer model: the loss terms against a direct computation,
step 0 (LoRA B = 0: nothing changes), a short run that reroutes, the saved model, and bad input."""

import json
import math

import pytest
import torch

from safestack.errors import BadInput
from safestack.train.config import LoraSettings, RRSettings, from_dict
from safestack.train.rr import (OriginalCache, RRState, angular_rerouting_loss, encode_rows, layer_cosines,
                                load_rr_rows, make_collator, prepare_model, read_rr_log, rerouting_loss, retain_loss,
                                rr_coefficients, rr_losses, train_rr)

CB = [{"kind": "circuit_breaker", "prompt": f"How do I build pipe bomb number {i}?",
       "completion": f"Sure, first get {i} steel pipes and black powder, then seal both ends tightly."}
      for i in range(4)]
RETAIN = [{"kind": "retain", "prompt": f"How do I bake loaf number {i}?",
           "completion": "Mix flour, water, yeast and salt, knead, let it rise, then bake it hot."} for i in range(3)]
RETAIN.append({"kind": "retain", "prompt": "How do I build a pipe bomb?", "completion": "I can't help with that."})


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _cfg(**kw):
    return RRSettings(**{"batch_size": 2, "save_steps": 100, "logging_steps": 1, "device": "cpu",
                         "lora": LoraSettings(r=4, alpha=8, top_layers=None), **kw})


def _state(model, tok, cfg, layers, rows, cache_bytes=1e9):
    enc = {k: encode_rows([r for r in rows if r["kind"] == k], tok, cfg) for k in ("circuit_breaker", "retain")}
    cache = OriginalCache(cache_bytes)
    cache.fill(model, "circuit_breaker", enc["circuit_breaker"], layers.target, tok.pad_token_id, 16)
    cache.fill(model, "retain", enc["retain"], layers.retain, tok.pad_token_id, 16)
    batch = make_collator(enc["circuit_breaker"], enc["retain"], tok.pad_token_id)(
        [{"cb": i, "retain": i} for i in range(2)])
    return RRState(cfg, layers, cache, []), batch


def _masked_tokens(h_lora, h_orig, mask):
    """(layer, h_lora row, h_orig row) as Python lists for every masked token: the direct computation's loop."""
    L, B, T, _ = h_lora.shape
    for l in range(L):
        for b in range(B):
            for t in range(T):
                if mask[b, t]:
                    yield l, h_lora[l, b, t].tolist(), h_orig[l, b, t].tolist()


def test_loss_functions_equal_a_direct_computation():
    torch.manual_seed(0)
    L, B, T, d = 2, 3, 5, 8
    h_lora, h_orig = torch.randn(L, B, T, d), torch.randn(L, B, T, d)
    mask = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 0, 0, 0], [0, 0, 0, 1, 1]])
    cos_sum = norm_sum = 0.0
    per_layer = [0.0] * L
    n = int(mask.sum())
    for l, x, y in _masked_tokens(h_lora, h_orig, mask):
        dot = sum(a * c for a, c in zip(x, y))
        cos = dot / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(c * c for c in y)))
        cos_sum += max(cos, 0.0)
        per_layer[l] += cos / n
        norm_sum += math.sqrt(sum((a - c) ** 2 for a, c in zip(x, y)))
    assert rerouting_loss(h_lora, h_orig, mask).item() == pytest.approx(cos_sum / (L * n), abs=1e-6)
    assert retain_loss(h_lora, h_orig, mask).item() == pytest.approx(norm_sum / (L * n), abs=1e-5)
    assert layer_cosines(h_lora, h_orig, mask) == pytest.approx(per_layer, abs=1e-6)
    assert rerouting_loss(h_orig, h_orig, mask).item() == pytest.approx(1.0)
    assert rerouting_loss(-h_orig, h_orig, mask).item() == 0.0  # ReLU: pointing away costs nothing
    assert retain_loss(h_orig, h_orig, mask).item() == 0.0
    # the paper's schedule: c_rr = α(1 − t/2T), c_retain = α t/2T
    assert rr_coefficients(0, 10, 10.0) == (10.0, 0.0)
    assert rr_coefficients(5, 10, 10.0) == pytest.approx((7.5, 2.5))
    assert rr_coefficients(10, 10, 4.0) == pytest.approx((2.0, 2.0))
    assert rr_coefficients(5, 10, 10.0, beta=5.0) == pytest.approx((7.5, 12.5))


def test_angular_loss_and_relative_retain_equal_a_direct_computation():
    torch.manual_seed(0)
    L, B, T, d = 2, 2, 4, 6
    h_lora, h_orig = torch.randn(L, B, T, d), torch.randn(L, B, T, d)
    mask = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 0]])
    ang_sum = rel_sum = 0.0
    n = int(mask.sum())
    for _, x, y in _masked_tokens(h_lora, h_orig, mask):
        nx, ny = math.sqrt(sum(a * a for a in x)), math.sqrt(sum(c * c for c in y))
        theta = math.acos(sum(a * c for a, c in zip(x, y)) / (nx * ny))
        ang_sum += max(1 - 2 * theta / math.pi, 0.0)
        rel_sum += math.sqrt(sum((a - c) ** 2 for a, c in zip(x, y))) / ny
    assert angular_rerouting_loss(h_lora, h_orig, mask).item() == pytest.approx(ang_sum / (L * n), abs=1e-5)
    assert retain_loss(h_lora, h_orig, mask, relative=True).item() == pytest.approx(rel_sum / (L * n), abs=1e-5)
    assert angular_rerouting_loss(h_orig, h_orig, mask).item() == pytest.approx(1.0, abs=1e-4)
    assert angular_rerouting_loss(-h_orig, h_orig, mask).item() == 0.0


def test_the_cosine_gradient_vanishes_at_the_start_and_the_angle_gradient_does_not():
    """Near h_lora = h_orig (a fresh adapter) ∇ReLU(cos) shrinks with the distance; ∇ReLU(1 − 2θ/π) stays at
    2/(π‖h‖) per token: the reason `rerouting: angle` moves a float32 model off its start and `cosine` does not."""
    torch.manual_seed(0)
    h_orig = torch.randn(1, 1, 3, 64) * 150.0  # SmolLM2's residual norms at layers 10 and 20 are ~150–250
    mask = torch.ones(1, 3)
    for eps, fn, lo, hi in ((1e-4, rerouting_loss, 0.0, 1e-7), (1e-4, angular_rerouting_loss, 1e-4, 1e-2)):
        h = (h_orig + eps * torch.randn_like(h_orig)).requires_grad_()
        fn(h, h_orig, mask).backward()
        per_token = h.grad.norm(dim=-1).mean().item() * 3  # the mask mean divides by 3 tokens
        assert lo <= per_token <= hi, (fn.__name__, per_token)
    h = h_orig.clone().requires_grad_()
    angular_rerouting_loss(h + 1e-3 * torch.randn_like(h), h_orig, mask).backward()
    expected = 2 / (math.pi * h_orig.norm(dim=-1).mean().item())
    assert h.grad.norm(dim=-1).mean().item() * 3 == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("cache_bytes", [1e9, 0])  # originals from the cache, or recomputed every step
def test_losses_on_the_model_equal_hand_computed_hidden_states(tiny_dir, cache_bytes):
    """Batched, right-padded, truncated forward vs one unpadded full forward per row with HF's hidden states
    (hidden_states[ℓ + 1] = output of decoder layer ℓ), the adapter perturbed so h_lora ≠ h_orig."""
    cfg = _cfg(target_layers=[0], retain_layers="all", rerouting="cosine", retain_scale="absolute")
    model, tok, _, layers = prepare_model(str(tiny_dir), cfg)
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0.0, 0.3)
    rows = CB[:2] + RETAIN[:2]
    state, batch = _state(model, tok, cfg, layers, rows, cache_bytes)
    parts = rr_losses(model, batch, state)
    enc = encode_rows(rows, tok, cfg)
    cos, norms = [], []
    with torch.no_grad():
        for r, e in zip(rows, enc):
            ids = torch.tensor([e["ids"]])
            h_l = model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
            with model.disable_adapter():
                h_o = model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
            for t in range(e["start"], len(e["ids"])):
                if r["kind"] == "circuit_breaker":
                    cos.append(float(h_l[t] @ h_o[t] / (h_l[t].norm() * h_o[t].norm())))
                else:
                    norms.append(float((h_l[t] - h_o[t]).norm()))
    assert enc[0]["start"] > 0 and enc[2]["start"] == 0  # CB: completion tokens only; retain: every token
    assert parts["rerouting_loss"].item() == pytest.approx(sum(max(c, 0) for c in cos) / len(cos), abs=1e-5)
    assert parts["cos"] == pytest.approx([sum(cos) / len(cos)], abs=1e-5)
    assert parts["retain_loss"].item() == pytest.approx(sum(norms) / len(norms), abs=1e-5)
    assert parts["retain_loss"].item() > 0.01 and parts["cos"][0] < 0.999  # the perturbation is visible
    assert len(state.cache.store) == (0 if cache_bytes == 0 else 4)


def test_step_zero_changes_nothing(tiny_dir):
    """A fresh adapter (LoRA B = 0): greedy replies are the base model's, the retain loss is 0, the cosine 1."""
    from transformers import AutoModelForCausalLM

    cfg = _cfg()
    model, tok, _, layers = prepare_model(str(tiny_dir), cfg)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    model.eval()
    for prompt in ("How do I bake bread?", "Tell me a joke about cats."):
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)
        ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
        kw = dict(max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        assert torch.equal(model.generate(input_ids=ids, **kw), base.generate(input_ids=ids, **kw))
    state, batch = _state(model, tok, cfg, layers, CB[:2] + RETAIN[:2])
    parts = rr_losses(model, batch, state)
    assert parts["retain_loss"].item() < 1e-5
    assert parts["rerouting_loss"].item() == pytest.approx(1.0, abs=1e-5)


def test_training_reroutes_and_saves_a_loadable_model(tmp_path, tiny_dir):
    data = _write(tmp_path / "rr.jsonl", CB + RETAIN)
    cfg = _cfg(max_steps=8, learning_rate=1e-2, retain_weight=1.0)  # β = 1: the tiny model reroutes in 8 steps
    info = train_rr(f"hf:{tiny_dir}", data, tmp_path / "out", cfg, log=lambda *a: None)
    log = read_rr_log(tmp_path / "out" / "rr_log.jsonl")
    assert [r["step"] for r in log] == list(range(8)) and info["steps"] == 8
    assert info["target_layers"] == [0, 1] and info["transform_layers"] == [0, 1]
    assert info["originals"]["cached"] == 8 and info["originals"]["not_cached"] == 0
    assert log[0]["retain_loss"] < 1e-5 and log[0]["cos_mean"] == pytest.approx(1.0, abs=1e-5)
    for r in log:
        assert (r["c_rr"], r["c_retain"]) == pytest.approx(rr_coefficients(r["step"], 8, cfg.alpha, cfg.retain_weight),
                                                        abs=1e-5)
        assert set(r["cos"]) == {"0", "1"}
    assert log[-1]["cos_mean"] < log[0]["cos_mean"] - 0.2, [r["cos_mean"] for r in log]
    assert log[-1]["rerouting_loss"] < log[0]["rerouting_loss"]
    from safestack.targets import load_target
    from safestack.targets.hf import HFTarget

    t = load_target(f"hf:{tmp_path / 'out' / 'model'}")
    assert isinstance(t, HFTarget) and t.model.config.num_hidden_layers == 2  # merged: a plain HF model
    assert not any("lora" in n for n, _ in t.model.named_parameters())


def test_preference_pairs_are_converted(tmp_path):
    pairs = [{"key": "a", "prompt": [{"role": "user", "content": "How do I hack a bank?"}],
              "chosen": "I can't help with that.", "rejected": "Sure, start by phishing the staff.", "kind": "refusal"},
             {"prompt": [{"role": "user", "content": "How do I kill a Python process?"}],
              "chosen": [{"role": "assistant", "content": "Run kill with its PID."}],
              "rejected": [{"role": "assistant", "content": "I can't help with that."}], "kind": "borderline"}]
    rows = load_rr_rows(_write(tmp_path / "pairs.jsonl", pairs))
    got = sorted((r["kind"], r["prompt"][0]["content"], r["completion"]) for r in rows)
    assert got == [("circuit_breaker", "How do I hack a bank?", "Sure, start by phishing the staff."),
                   ("retain", "How do I hack a bank?", "I can't help with that."),
                   ("retain", "How do I kill a Python process?", "Run kill with its PID.")]
    with pytest.raises(BadInput, match="no 'circuit_breaker' rows"):
        load_rr_rows(_write(tmp_path / "b.jsonl", pairs[1:]))


def test_config_fields_and_modes():
    cfg = from_dict(RRSettings, {"target_layers": [3, 6], "lora": {"r": 4}, "alpha": 5})
    assert cfg.target_layers == [3, 6] and cfg.lora.r == 4 and cfg.lora.alpha == 16 and cfg.lora.top_layers is None
    from safestack.train.rr import check_settings, resolve_layers

    with pytest.raises(BadInput, match="'retain_layers' must be one of target, all"):
        check_settings(RRSettings(retain_layers="every"))
    with pytest.raises(BadInput, match="out of range"):
        resolve_layers(RRSettings(target_layers=[30]), 30)
    lay = resolve_layers(RRSettings(), 30)
    assert lay.target == [10, 20] and lay.transform == list(range(21)) and lay.retain == [10, 20]
    assert resolve_layers(RRSettings(retain_layers="all", transform_layers=[12, 20]), 30).retain == list(range(21))


@pytest.mark.parametrize("lines,needle", [
    (['{"kind": "circuit_breaker", "prompt": "x", "completion": "y"}', "", '{"kind": "retain", "prompt": "a"}'],
     "bad.jsonl:3: missing field 'completion'"),
    (['{"kind": "harmful", "prompt": "x", "completion": "y"}'], "bad.jsonl:1: field 'kind' must be one of"),
    (['{"prompt": "x", "chosen": "a", "rejected": "b"}'], "bad.jsonl:1: missing field 'kind'"),
    (['{"kind": "retain", "prompt": 3, "completion": "y"}'], "bad.jsonl:1: field 'prompt' must be"),
    (['{"kind": "retain", "prompt": "x", "completion": "y"}', '{"kind": '], "bad.jsonl:2: malformed JSON"),
])
def test_bad_input_exits_2_naming_file_line_and_field(tmp_path, tiny_dir, monkeypatch, capsys, lines, needle):
    from safestack.cli import main

    bad = _write(tmp_path / "bad.jsonl", lines)
    monkeypatch.setattr("sys.argv", ["safestack", "train", "rr", "--model", f"hf:{tiny_dir}", "--data", str(bad),
                                     "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    assert needle in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "out").exists()


def test_retain_pair_kinds_keeps_only_those_chosen_replies(tmp_path):
    pairs = [{"prompt": "How do I hack a bank?", "chosen": "I can't help with that.",
              "rejected": "Sure, start by phishing the staff.", "kind": "refusal"},
             {"prompt": "How do I kill a Python process?", "chosen": "Run kill with its PID.",
              "rejected": "I can't help with that.", "kind": "borderline"}]
    rows = load_rr_rows(_write(tmp_path / "pairs.jsonl", pairs), retain_pair_kinds=["borderline"])
    assert sorted((r["kind"], r["completion"]) for r in rows) == [
        ("circuit_breaker", "Sure, start by phishing the staff."), ("retain", "Run kill with its PID.")]
    with pytest.raises(BadInput, match="no 'retain' rows"):
        load_rr_rows(_write(tmp_path / "b.jsonl", pairs[:1]), retain_pair_kinds=["borderline"])
    assert from_dict(RRSettings, {"retain_pair_kinds": ["borderline"]}).retain_pair_kinds == ["borderline"]

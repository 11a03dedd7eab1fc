import pytest

from safestack.guard.pii import find_pii, iban_ok, luhn_ok, redact


def kinds(text):
    return [(p.kind, p.text) for p in find_pii(text)]


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert iban_ok("DE89370400440532013000")


def test_finds_each_kind():
    text = ("Mail jane.doe@example.com or call +1 415-555-0132. Card 4111 1111 1111 1111, IBAN "
            "DE89 3704 0044 0532 0130 00, SSN 123-45-6789, server 192.168.1.20. Ship to 742 Evergreen Terrace, "
            "Springfield. Regards, Dr. Alice Hartley")
    got = dict((k, t) for k, t in kinds(text))
    assert got["email"] == "jane.doe@example.com"
    assert "415-555-0132" in got["phone"]
    assert got["card"] == "4111 1111 1111 1111"
    assert got["iban"].replace(" ", "") == "DE89370400440532013000"
    assert got["ssn"] == "123-45-6789"
    assert got["ip"] == "192.168.1.20"
    assert got["address"].startswith("742 Evergreen Terrace")
    assert got["name"] == "Alice Hartley"


def test_no_false_positives_on_lookalikes():
    # fails Luhn, invalid SSN area, invalid IBAN checksum, a year range, a version number, a plain sentence
    text = ("Order 4111 1111 1111 1112 arrived. SSN 000-12-3456 and 666-12-3456 are invalid. "
            "GB82 WEST 1234 5698 7654 33. From 1990-2020 we shipped v2.3.1. The Great Wall is long.")
    assert kinds(text) == []


def test_redact_replaces_spans_and_keeps_the_rest():
    text = "Write to bob@corp.io, my name is Maria Lopez, card 5500 0000 0000 0004."
    assert redact(text) == "Write to [EMAIL], my name is [NAME], card [CARD]."


def _tiny_ner(tmp_path, label: str):
    """A real BERT token classifier built offline (MiniLM's tokenizer, random 2-layer encoder) whose head is biased
    so every token gets ``label`` — the plumbing (pipeline, offsets, label mapping, merging) is what is tested."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from safestack.embed import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, id2label=dict(enumerate(labels)), label2id={v: k for k, v in enumerate(labels)})
    torch.manual_seed(0)
    m = BertForTokenClassification(cfg)
    with torch.no_grad():
        m.classifier.weight.zero_()
        m.classifier.bias.fill_(-10.0)
        m.classifier.bias[labels.index(label)] = 10.0
    d = tmp_path / f"ner-{label}"
    m.save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


def test_ner_model_spans_join_the_rule_matches(tmp_path):
    from safestack.guard.pii import find_pii, load_ner

    text = "write to zed quux at zed.quux@example.com please"
    none = load_ner(f"hf:{_tiny_ner(tmp_path, 'O')}")
    assert [m.kind for m in find_pii(text, ner=none)] == ["email"]  # the model finds nothing; the rules still work
    per = load_ner(f"hf:{_tiny_ner(tmp_path, 'I-PER')}")
    spans = per(text)
    assert spans and all(s.kind == "name" and text[s.start:s.end] == s.text for s in spans)
    merged = find_pii(text, ner=per)
    assert {m.kind for m in merged} == {"name"}  # the longest span wins (the whole text is one 'name' entity here)
    assert find_pii(text, kinds=frozenset({"email"}), ner=per)[0].kind == "email"


def test_ner_specs_rejected_clearly(tmp_path):
    from safestack.errors import BadInput
    from safestack.guard.pii import load_ner

    assert load_ner(None) is None
    with pytest.raises(BadInput, match="hf:<local model path>"):
        load_ner("stanza:en")
    with pytest.raises(BadInput, match="no such model directory"):
        load_ner(f"hf:{tmp_path / 'missing'}")

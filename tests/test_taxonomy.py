import pytest

from safestack.errors import BadInput
from safestack.taxonomy import load_taxonomy

REQUIRED = {"violence", "self_harm", "illegal_activity", "csam", "pii_privacy", "deception", "bias_discrimination",
            "weapons_cbrn", "cybercrime"}


def test_default_taxonomy_has_required_categories_and_mappings():
    tax = load_taxonomy()
    ids = {c.id for c in tax.categories}
    assert REQUIRED <= ids
    for c in tax.categories:
        if c.id in REQUIRED:
            assert c.mlcommons, c.id
            assert c.expected in ("hard_refusal", "soft_deflection")
    assert tax.get("self_harm").expected == "soft_deflection"
    assert tax.get("benign").expected == "comply"


def test_benchmark_aliases_map_to_categories():
    tax = load_taxonomy()
    assert tax.canonical("chemical_biological") == "weapons_cbrn"
    assert tax.canonical("cybercrime_intrusion") == "cybercrime"
    assert tax.canonical("misinformation_disinformation") == "deception"
    assert tax.canonical("something-unknown") == "other_harm"


def test_user_file_replaces_default(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("categories:\n  - {id: spam, name: Spam, severity: low, expected: soft_deflection}\n")
    tax = load_taxonomy(p)
    assert [c.id for c in tax.categories] == ["spam"]


def test_bad_taxonomy_names_the_field(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("categories:\n  - {id: spam, name: Spam, severity: extreme, expected: comply}\n")
    with pytest.raises(BadInput, match=r"categories\.0\.severity"):
        load_taxonomy(p)
    p.write_text("cats: []\n")
    with pytest.raises(BadInput, match="missing field 'categories'"):
        load_taxonomy(p)

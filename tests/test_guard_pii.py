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

"""The contamination index's prefix filter gives exactly the brute-force Jaccard answer."""

import random

from safestack.datagen.hygiene import Contamination, tokens


def test_prefix_filter_matches_brute_force():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(60)] + ["the", "how", "do", "i", "a"]
    evals = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))) for _ in range(400)]
    idx = Contamination(evals, n=50)  # n-grams out of the way: Jaccard only
    probes = evals[:50] + [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    probes += [e + " extra" for e in evals[50:100]] + ["", "completely unseen words here"]

    def brute(text):
        s = frozenset(tokens(text))
        return bool(s) and any(len(s & e) / len(s | e) >= idx.jaccard for e in idx.sets if e)

    got = [idx.hit(p) for p in probes]
    assert got == [brute(p) for p in probes]
    assert any(got) and not all(got)

"""bench/run.py: the configurations of the benchmark's extra trainings (pure helpers)."""
from __future__ import annotations

import yaml

from bench.run import ROOT, draw_seed, reseeded

OURS = (ROOT / "config.yml").read_text()
STOCK = (ROOT / "bench" / "stock_config.yml").read_text()


def seeds(text: str) -> list:
    config = yaml.safe_load(text)
    return [
        c.get("random_seed")
        for key in ("pipeline", "policies")
        for c in (config.get(key) or [])
        if "random_seed" in c
    ]


def test_our_draws_take_the_configured_seed_then_the_next() -> None:
    assert set(seeds(OURS)) == {42}
    assert [draw_seed(OURS, d) for d in range(3)] == [42, 43, 44]


def test_a_reseeded_config_changes_only_the_seeds() -> None:
    text = reseeded(OURS, 43)
    assert text is not None
    assert set(seeds(text)) == {43}
    original, changed = yaml.safe_load(OURS), yaml.safe_load(text)
    for config in (original, changed):
        for c in config["pipeline"] + config["policies"]:
            c.pop("random_seed", None)
    assert changed == original


def test_stock_stays_as_rasa_init_writes_it() -> None:
    # No seed anywhere: every stock training is its own draw, nothing is rewritten.
    assert seeds(STOCK) == []
    assert draw_seed(STOCK, 1) is None
    assert reseeded(STOCK, 43) is None

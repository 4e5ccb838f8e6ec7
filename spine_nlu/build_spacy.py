"""Build the project's spaCy pipeline from ``spacy.blank("en")``.

No pretrained spaCy model can be downloaded on our machines, so Rasa's ``SpacyNLP`` loads this
pipeline from disk instead: a lookup lemmatizer (tables from ``spacy-lookups-data``) so that
``CountVectorsFeaturizer`` can featurize lemmas, and an ``EntityRuler`` whose patterns are data
in ``content/spacy_patterns.yml``.

Usage: ``python -m spine_nlu.build_spacy [--patterns FILE] [--out DIR]``
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Dict, List

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATTERNS = ROOT / "content" / "spacy_patterns.yml"
DEFAULT_OUT = ROOT / "models" / "spacy" / "en_miss"


def load_patterns(path: Path) -> List[Dict[str, Any]]:
    """Turn ``{label: {canonical: [phrases]}}`` into EntityRuler phrase patterns."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    patterns: List[Dict[str, Any]] = []
    for label, canon_map in raw.items():
        if not isinstance(canon_map, dict):
            raise ValueError(f"{path}: label {label!r} must map canonical names to phrase lists")
        for canonical, phrases in canon_map.items():
            for phrase in phrases or []:
                patterns.append({"label": str(label), "pattern": str(phrase), "id": str(canonical)})
    return patterns


def build(patterns_path: Path = DEFAULT_PATTERNS, out_dir: Path = DEFAULT_OUT) -> Path:
    """Build the pipeline and save it to ``out_dir``; returns ``out_dir``."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    # Patterns must be added after initialize(): adding phrase patterns first raises E1004.
    nlp.initialize()
    ruler.add_patterns(load_patterns(patterns_path))  # type: ignore[attr-defined]
    nlp.meta["name"] = "en_miss"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + spine-domain EntityRuler"
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=Path, default=DEFAULT_PATTERNS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    out = build(args.patterns, args.out)
    print(f"spaCy pipeline written to {out}")


if __name__ == "__main__":
    main()

"""The spaCy pipeline: spacy.blank("en") + lookups + an EntityRuler fed from content/."""
from __future__ import annotations

from pathlib import Path

import pytest
import spacy

from spine_nlu.build_spacy import DEFAULT_PATTERNS, build, load_patterns


@pytest.fixture(scope="module")
def nlp(tmp_path_factory: pytest.TempPathFactory) -> spacy.language.Language:
    out = build(DEFAULT_PATTERNS, tmp_path_factory.mktemp("spacy") / "en_miss")
    return spacy.load(out)


def test_pipeline_has_lemmatizer_and_ruler_and_no_vectors(nlp: spacy.language.Language) -> None:
    assert nlp.pipe_names == ["lemmatizer", "entity_ruler"]
    assert nlp.lang == "en"


@pytest.mark.parametrize(
    ("word", "lemma"),
    [("slipped", "slip"), ("surgeries", "surgery"), ("discs", "disc"), ("walking", "walk")],
)
def test_lookup_lemmas(nlp: spacy.language.Language, word: str, lemma: str) -> None:
    assert nlp(word)[0].lemma_ == lemma


@pytest.mark.parametrize(
    ("text", "label", "canonical"),
    [
        ("can keyhole surgery fix it", "procedure", "minimally invasive spine surgery"),
        ("I have a SLIPPED DISC", "condition", "herniated disc"),
        ("what about a disectomy", "procedure", "discectomy"),
        ("pain in my lower back", "body_part", "lower back"),
        ("is spondylolisthesis treatable", "condition", "spondylolisthesis"),
    ],
)
def test_entity_ruler_finds_domain_terms(
    nlp: spacy.language.Language, text: str, label: str, canonical: str
) -> None:
    found = {(ent.label_, ent.ent_id_) for ent in nlp(text).ents}
    assert (label, canonical) in found


def test_no_domain_entities_in_unrelated_text(nlp: spacy.language.Language) -> None:
    ents = nlp("what is the weather in Mumbai today").ents
    assert [(e.label_, e.ent_id_) for e in ents] == [("city", "Mumbai")]  # a city, nothing medical


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("doctors in new delhi", "Delhi"),
        ("specialist in calcutta", "Kolkata"),
        ("near rudrapur", "Rudrapur"),
        ("any surgeon in Chennai?", "Chennai"),
    ],
)
def test_entity_ruler_finds_cities(nlp: spacy.language.Language, text: str, city: str) -> None:
    assert ("city", city) in {(e.label_, e.ent_id_) for e in nlp(text).ents}


def test_patterns_file_must_map_canonical_names_to_lists(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("procedure: [discectomy]\n")
    with pytest.raises(ValueError, match="canonical"):
        load_patterns(bad)


def test_rasa_config_uses_the_built_pipeline(root: Path) -> None:
    import yaml

    pipeline = yaml.safe_load((root / "config.yml").read_text())["pipeline"]
    names = [c["name"] for c in pipeline]
    assert names[:2] == ["SpacyNLP", "SpacyTokenizer"]
    assert "SpacyEntityExtractor" in names
    assert pipeline[0]["model"] == "models/spacy/en_miss"
    lemma_featurizers = [
        c for c in pipeline if c["name"] == "CountVectorsFeaturizer" and c.get("use_lemma")
    ]
    assert lemma_featurizers

"""One YAML reader for the large files (the triage corpus, the evaluation sets, the rules).

PyYAML's pure-Python parser takes ~6 s for the 2 MB development corpus, its libyaml binding ~1 s
for the same objects; model training, `make test-fast` and every evaluation read these files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path | str) -> Any:
    """The YAML document at ``path`` as plain Python objects (safe loading only)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506

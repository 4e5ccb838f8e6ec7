"""Our Rasa server: ``python -m spine_rasa run ...`` (the Procfile's ``rasa:`` line).

The same command line as ``rasa``, with the serving fixes of :mod:`spine_rasa.fixes` applied first
(measured in bench/levers.md); the components and the policy ``config.yml`` names from here
(:mod:`spine_rasa.components`, :mod:`spine_rasa.policies`) are loaded by Rasa as usual.
``SPINE_RASA_FIXES=0`` starts Rasa exactly as shipped.
"""
from __future__ import annotations

from typing import Any


def load_agent(model_path: str, **kwargs: Any) -> Any:
    """Rasa's ``Agent.load`` with the serving fixes applied first, as the server loads it: the
    evaluations and tests use this, so what they measure is what serves."""
    from spine_rasa import fixes

    if fixes.enabled():
        fixes.before_import()
        fixes.apply()
    from rasa.core.agent import Agent

    return Agent.load(model_path, **kwargs)

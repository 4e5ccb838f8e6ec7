"""Model quality for the benchmark, as JSON on stdout: held-out intent / response accuracy
(spine_nlu.evaluate, the same code as `make eval` and the tests) and red-flag recall and false
alarms on the independent safety suites (tests/safety/), and triage on the blind corpus's held-out
part (spine_nlu.triage_eval: per level caught / messages, routine messages escalated), and the
held-out patient-voice understanding set (spine_nlu.understanding_eval)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any, Dict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


async def measure(model: Path) -> Dict[str, Any]:
    from spine_nlu import triage_eval
    from spine_nlu.evaluate import DEFAULT_HOLDOUT, Report, load_examples, predicted_label
    from spine_nlu.safety_suites import URGENT, calm_messages, caught, red_flag_cases
    from spine_rasa import load_agent

    agent = load_agent(str(model))
    report = Report()
    for text, expected in load_examples(DEFAULT_HOLDOUT):
        report.add(text, expected, predicted_label(await agent.parse_message(text)))
    cases, calm = red_flag_cases(), calm_messages()
    detected = 0
    for kind, text in cases:
        detected += caught(kind, (await agent.parse_message(text))["intent"]["name"])
    alarms = 0
    for text in calm:
        alarms += (await agent.parse_message(text))["intent"]["name"] in URGENT
    blind = await triage_eval.evaluate(agent, "heldout")
    # Only a model with this project's actions can answer the understanding set (not stock).
    ours = "action_answer_questions" in agent.domain.action_names_or_texts
    understood = await understanding(model) if ours else None
    return {
        "understanding_heldout": understood,
        "holdout": report.total,
        "intent_accuracy": report.intent_accuracy,
        "response_accuracy": report.response_accuracy,
        "answers_right": report.label_correct,
        "clarified": report.clarified,
        "answers_wrong": report.wrong_answers,
        "red_flags": len(cases),
        "red_flags_detected": detected,
        "calm": len(calm),
        "false_alarms": alarms,
        "blind_heldout": {
            level: list(blind.rate(level)) for level in (*triage_eval.LEVELS, "routine")
        },
        # Sent the triage question (with the urgent-help numbers) first, per level.
        "blind_heldout_asked": {
            level: list(blind.asked_rate(level)) for level in (*triage_eval.LEVELS, "routine")
        },
    }


async def understanding(model: Path) -> Dict[str, Any]:
    """Patient-voice questions of the held-out understanding set: right / clarify / missed /
    wrong, over questions (spine_nlu.understanding_eval, with the real action server)."""
    from spine_nlu import understanding_eval

    with understanding_eval.ActionServer() as server:
        agent = understanding_eval.load_agent(model, server.url)
        report = await understanding_eval.evaluate(agent, "heldout")
    counts = report.counts()
    return {outcome: counts[outcome] for outcome in understanding_eval.OUTCOMES}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's debug lines would go to stdout
    logging.disable(logging.WARNING)
    print(json.dumps(asyncio.run(measure(parser.parse_args().model))))


if __name__ == "__main__":
    main()

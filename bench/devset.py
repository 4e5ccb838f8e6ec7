"""A development set for model levers: k-fold cross-validation of the training phrasings.

The held-out set (tests/nlu/holdout.yml) judges a configuration once, after it was chosen; the
choosing happens here. The training examples of data/nlu are split into folds (stratified by
answer key for retrieval intents, by intent otherwise; seeded). Each fold's model is trained with
``rasa train nlu`` on the other folds (plus every synonym, regex, lookup table and response), then
parses the held-back fold. Together the folds give an out-of-fold prediction for every phrasing.

Scored as the held-out report is (spine_nlu.evaluate: an answer is right when its key is) and as
*right − wrong*: a clarifying question (``nlu_fallback``) scores 0, so a configuration gains by
answering only when an answer at that confidence is more often right than wrong.

    python -m bench.devset run CONFIG [--name NAME] [--folds 3] [--workdir var/devset]
                                      [--always-train FILE]
    python -m bench.devset show [--workdir ...]        # every scored configuration, best first

``--always-train`` adds a file's phrasings to every fold's training data and never scores them:
a candidate round of training data is then judged on the same out-of-fold phrasings as the
data without it.

    python -m bench.devset layers [--name NAME]       # what each layer changed, out of fold

``layers`` parses the held-back phrasings again with a run's saved fold models, reading the
label after the classifiers (RetrievalRouter), after the QuestionFinder and after the triage
layer (RedFlagDetector): the layers that read stories and safety are judged on short, direct
phrasings too, where each change is right → wrong, clarifying → right, and so on. The parse
code is the checkout's, so a change to what a layer does at parse time is measured without
training the folds again.

Training a fold takes as long as an NLU training (2–7 min each on the 2-core machines).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

from spine_nlu.evaluate import outcome

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "nlu"
SEED = 7


def split(
    folds: int, workdir: Path, always: Path | None = None
) -> List[Tuple[Path, List[Tuple[str, str]]]]:
    """Writes each fold's training file; returns (training file, held-back (text, label)) pairs."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(DATA))
    by_label: Dict[str, List[Any]] = defaultdict(list)
    for message in data.intent_examples:
        by_label[message.get("intent_response_key") or message.get("intent")].append(message)
    rng = random.Random(SEED)  # noqa: S311 - a reproducible split, not security
    assigned: List[List[Any]] = [[] for _ in range(folds)]
    offset = 0
    for label in sorted(by_label):
        messages = sorted(by_label[label], key=lambda m: m.get("text"))
        rng.shuffle(messages)
        for i, message in enumerate(messages):
            assigned[(i + offset) % folds].append(message)
        offset += len(messages)  # small classes do not all start in fold 0
    others = [m for m in data.training_examples if not m.get("intent")]
    if always is not None:
        others += load_data(str(always)).training_examples
    out = []
    for k in range(folds):
        train = [m for j in range(folds) if j != k for m in assigned[j]] + others
        fold_data = TrainingData(
            training_examples=train,
            entity_synonyms=data.entity_synonyms,
            regex_features=data.regex_features,
            lookup_tables=data.lookup_tables,
            responses=data.responses,
        )
        path = workdir / f"fold{k}" / "train.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RasaYAMLWriter().dumps(fold_data), encoding="utf-8")
        held = [
            (m.get("text"), m.get("intent_response_key") or m.get("intent")) for m in assigned[k]
        ]
        out.append((path, held))
    return out


def train(config: Path, train_file: Path, out: Path, name: str) -> float:
    start = time.monotonic()
    subprocess.run(  # noqa: S603
        [
            str(Path(sys.executable).parent / "rasa"),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(train_file),
            "--out",
            str(out),
            "--fixed-model-name",
            name,
        ],
        cwd=ROOT,
        env={**os.environ, "RASA_CACHE_DIRECTORY": str(out / f"cache-{name}")},
        check=True,
        capture_output=True,
    )
    shutil.rmtree(out / f"cache-{name}", ignore_errors=True)
    return time.monotonic() - start


async def predict(model: Path, held: List[Tuple[str, str]]) -> List[Tuple[str, str, str]]:
    from spine_nlu.evaluate import predicted_label
    from spine_rasa import load_agent

    agent = load_agent(str(model))
    return [(text, label, predicted_label(await agent.parse_message(text))) for text, label in held]


def score(rows: List[Tuple[str, str, str]]) -> Dict[str, Any]:
    from spine_nlu.evaluate import Report

    report = Report()
    counts = Counter(outcome(expected, predicted) for _, expected, predicted in rows)
    for text, expected, predicted in rows:
        report.add(text, expected, predicted)
    right, wrong, clarify = counts["right"], counts["wrong"], counts["clarify"]
    return {
        "messages": len(rows),
        "right_minus_wrong": right - wrong,
        "right": right,
        "wrong": wrong,
        "clarifications": clarify,
        "intent_accuracy": round(report.intent_accuracy, 4),
        "response_accuracy": round(report.response_accuracy, 4),
    }


def run(
    config: Path, name: str, folds: int, workdir: Path, always: Path | None = None
) -> Dict[str, Any]:
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.disable(logging.WARNING)
    rows: List[Tuple[str, str, str]] = []
    seconds = []
    for k, (train_file, held) in enumerate(split(folds, workdir, always)):
        models = workdir / "models"
        seconds.append(train(config, train_file, models, f"{name}-fold{k}"))
        rows += asyncio.run(predict(models / f"{name}-fold{k}.tar.gz", held))
        print(f"[{name}] fold {k}: trained in {seconds[-1]:.0f} s", file=sys.stderr)
    result = {
        "name": name,
        "config": str(config),
        "always_train": str(always) if always else None,
        **score(rows),
        "train_s": seconds,
    }
    (workdir / "results").mkdir(parents=True, exist_ok=True)
    (workdir / "results" / f"{name}.json").write_text(
        json.dumps({**result, "rows": rows}, indent=1), encoding="utf-8"
    )
    return result


# The parse after each layer, in pipeline order (their classes in config.yml).
LAYERS = {
    "classifiers": "RetrievalRouter",
    "question finder": "QuestionFinder",
    "triage": "RedFlagDetector",
}


def changes(rows: List[Dict[str, str]], before: str, after: str) -> Counter:
    """(outcome before, outcome after, the label after) for each phrasing a layer changed."""
    return Counter(
        (
            outcome(row["expected"], row[before]),
            outcome(row["expected"], row[after]),
            row[after].split("/", 1)[0],
        )
        for row in rows
        if row[before] != row[after]
    )


async def parse_by_layer(model: Path, held: List[Tuple[str, str]]) -> List[Dict[str, str]]:
    """Each held-back phrasing's label after every layer of ``LAYERS``: the graph is run up to
    that layer's node, as Rasa's processor runs it up to the last one."""
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    from spine_nlu.evaluate import predicted_label
    from spine_rasa import load_agent

    processor = load_agent(str(model)).processor
    nodes = processor.model_metadata.predict_schema.nodes
    targets = {
        layer: next(
            n for n, node in nodes.items() if n.startswith("run_") and node.uses.__name__ == cls
        )
        for layer, cls in LAYERS.items()
    }
    rows = []
    for text, expected in held:
        row = {"text": text, "expected": expected}
        # One run per layer: the components change the message in place, so a run with every
        # target would hand back the final parse three times.
        for layer, target in targets.items():
            result = processor.graph_runner.run(
                inputs={
                    PLACEHOLDER_MESSAGE: [UserMessage(text)],
                    PLACEHOLDER_TRACKER: DialogueStateTracker("devset", []),
                },
                targets=[target],
            )
            parsed = result[target][0].as_dict(only_output_properties=True)
            row[layer] = predicted_label(parsed)
        rows.append(row)
    return rows


def layers(workdir: Path, name: str, folds: int) -> str:
    import logging

    logging.disable(logging.WARNING)
    rows: List[Dict[str, str]] = []
    for k, (_, held) in enumerate(split(folds, workdir)):
        model = workdir / "models" / f"{name}-fold{k}.tar.gz"
        if not model.exists():
            raise SystemExit(f"{model} is missing: python -m bench.devset run CONFIG --name {name}")
        rows += asyncio.run(parse_by_layer(model, held))
    (workdir / "layers").mkdir(parents=True, exist_ok=True)
    (workdir / "layers" / f"{name}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    lines = []
    for layer in LAYERS:
        counts = Counter(outcome(row["expected"], row[layer]) for row in rows)
        lines.append(
            f"after the {layer}: right {counts['right']}, clarify {counts['clarify']}, "
            f"wrong {counts['wrong']}, right - wrong {counts['right'] - counts['wrong']}"
        )
    names = list(LAYERS)
    for before, after in zip(names, names[1:], strict=False):
        lines.append(f"changed by the {after}:")
        for (was, now, label), n in changes(rows, before, after).most_common():
            lines.append(f"  {n:4d}  {was} -> {now}  ({label})")
    return "\n".join(lines)


def show(workdir: Path) -> None:
    results = [
        {k: v for k, v in json.loads(p.read_text(encoding="utf-8")).items() if k != "rows"}
        for p in sorted((workdir / "results").glob("*.json"))
    ]
    for r in sorted(results, key=lambda r: -r["right_minus_wrong"]):
        print(
            f"{r['name']:<28} right-wrong {r['right_minus_wrong']:5d}  right {r['right']:5d}  "
            f"wrong {r['wrong']:4d}  clarify {r['clarifications']:4d}  "
            f"intent {r['intent_accuracy']:.3f}  response {r['response_accuracy']:.3f}  "
            f"train {'/'.join(f'{s:.0f}' for s in r['train_s'])} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "show", "layers"])
    parser.add_argument("config", type=Path, nargs="?", default=ROOT / "config.yml")
    parser.add_argument("--name")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "devset")
    parser.add_argument("--always-train", type=Path, help="phrasings in every fold's training")
    args = parser.parse_args()
    if args.command == "show":
        show(args.workdir)
        return
    if args.command == "layers":
        print(layers(args.workdir, args.name or "config", args.folds))
        return
    name = args.name or args.config.stem
    result = run(args.config.resolve(), name, args.folds, args.workdir, args.always_train)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

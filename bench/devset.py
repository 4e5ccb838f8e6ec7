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
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

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
    from spine_nlu.evaluate import FALLBACK_OK, Report

    report = Report()
    right = wrong = clarify = 0
    for text, expected, predicted in rows:
        report.add(text, expected, predicted)
        if predicted == expected or (expected in FALLBACK_OK and predicted in FALLBACK_OK):
            right += 1
        elif predicted == "nlu_fallback":
            clarify += 1
        else:
            wrong += 1
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
    parser.add_argument("command", choices=["run", "show"])
    parser.add_argument("config", type=Path, nargs="?", default=ROOT / "config.yml")
    parser.add_argument("--name")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "devset")
    parser.add_argument("--always-train", type=Path, help="phrasings in every fold's training")
    args = parser.parse_args()
    if args.command == "show":
        show(args.workdir)
        return
    name = args.name or args.config.stem
    result = run(args.config.resolve(), name, args.folds, args.workdir, args.always_train)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

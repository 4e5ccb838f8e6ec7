"""Where a parse spends its CPU: per graph node, one process, the held-out messages.

``python -m bench.parse_cpu MODEL [--rounds 3] [--no-fixes]`` loads MODEL as `python -m spine_rasa`
serves it (with the serving fixes unless ``--no-fixes``), parses every held-out message ``rounds``
times and prints, for the fastest round, the CPU time per message of the whole parse and of each
graph node (thread CPU time, so other processes on the machine do not count).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-fixes", action="store_true")
    args = parser.parse_args()

    if not args.no_fixes:
        from spine_rasa.fixes import apply, before_import

        before_import()
        apply()

    import logging

    from rasa.core.agent import Agent
    from rasa.engine.graph import GraphNode
    from rasa.utils.log_utils import configure_structlog

    from spine_nlu.evaluate import DEFAULT_HOLDOUT, load_examples

    configure_structlog(logging.WARNING)  # Rasa's debug lines would go to stdout
    logging.disable(logging.WARNING)
    spent: Dict[str, float] = defaultdict(float)
    call = GraphNode.__call__

    def timed(self: GraphNode, *inputs: Any) -> Any:
        start = time.thread_time()
        try:
            return call(self, *inputs)
        finally:
            spent[self._node_name] += time.thread_time() - start

    GraphNode.__call__ = timed  # type: ignore[method-assign]
    agent = Agent.load(str(args.model))
    texts = [text for text, _ in load_examples(DEFAULT_HOLDOUT)]

    async def one_round() -> Tuple[float, Dict[str, float]]:
        spent.clear()
        start = time.thread_time()
        for text in texts:
            await agent.parse_message(text)
        return time.thread_time() - start, dict(spent)

    rounds: List[Tuple[float, Dict[str, float]]] = []
    for _ in range(args.rounds):
        rounds.append(asyncio.run(one_round()))
    total, nodes = min(rounds, key=lambda r: r[0])
    n = len(texts)
    print(f"{n} messages, best of {args.rounds}: {1000 * total / n:.2f} ms CPU per parse")
    print("all rounds: " + ", ".join(f"{1000 * t / n:.2f}" for t, _ in rounds) + " ms")
    for name, seconds in sorted(nodes.items(), key=lambda item: -item[1]):
        print(f"  {1000 * seconds / n:7.3f} ms  {name}")


if __name__ == "__main__":
    main()

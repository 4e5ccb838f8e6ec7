"""`make bench`: our configuration and the stock Rasa configuration side by side, same data, same
machine, same run. Not part of `make test`.

For each configuration: full training time; held-out accuracy and red-flag recall / false alarms
(bench/quality.py), of the trained model and as the mean over several trainings of the
configuration (``--draws``: a single training of an unseeded configuration is one draw from a
spread wider than the differences being compared; bench/levers.md); then the real
servers (the Procfile's action server and Rasa server, tracker store on PostgreSQL, Redis lock
store) — time from start until the first answer over REST, memory, and locust (its own
virtualenv and process, bench/locustfile.py) at 1, 10, 20 and 50 concurrent users for 60 s each:
throughput and latency percentiles. Results go to bench/results.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import yaml

from devstack.databases import fresh_database
from devstack.servers import ROOT, Stack, free_port, http

BIN = Path(sys.executable).parent
LOCUST = ROOT / ".venv-bench" / "bin" / "locust"
RESULTS = ROOT / "bench" / "results.md"
DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")

# How our Rasa server runs (the Procfile's defaults: TensorFlow on one thread per op, so
# concurrent requests do not fight over the cores inside one prediction) plus one Sanic worker per
# core (possible with the Redis lock store).
OURS_ENV = {
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "SANIC_WORKERS": str(os.cpu_count() or 1),
}
# Rasa as shipped: TensorFlow picks its threads ("0"), one worker, none of spine_rasa's fixes.
STOCK_ENV = {
    "SPINE_RASA_FIXES": "0",
    "TF_INTRA_OP_PARALLELISM_THREADS": "0",
    "TF_INTER_OP_PARALLELISM_THREADS": "0",
    "SANIC_WORKERS": "1",
}


@dataclass
class Variant:
    name: str
    config: Path
    env: Dict[str, str] = field(default_factory=dict)
    # "production": PostgreSQL tracker store, Redis lock store; "default": what `make run`
    # starts (a SQLite file for conversations, one for the locks, a worker per core up to two)
    stores: str = "production"


VARIANTS = {
    "ours": Variant("ours", ROOT / "config.yml", dict(OURS_ENV)),
    "stock": Variant("stock", ROOT / "bench" / "stock_config.yml", dict(STOCK_ENV)),
    # The stock configuration served like ours (same workers and TensorFlow threads): separates
    # what the configuration gains from what the serving settings gain.
    "stock-tuned": Variant("stock-tuned", ROOT / "bench" / "stock_config.yml", dict(OURS_ENV)),
    # Ours as a clinic's `make run` starts it: the Procfile's defaults and one worker per core up
    # to two (the Makefile's), SQLite files, nothing else running.
    "default": Variant(
        "default",
        ROOT / "config.yml",
        {
            "TF_INTRA_OP_PARALLELISM_THREADS": "1",
            "TF_INTER_OP_PARALLELISM_THREADS": "1",
            "SANIC_WORKERS": str(min(os.cpu_count() or 1, 2)),
        },
        stores="default",
    ),
}
# One patient's conversation, message after message, as a long-lived WhatsApp sender writes:
# the latency of messages around these positions (bench/results.md's curve).
LONG_CONVERSATION = 300
CURVE_AT = (1, 50, 100, 200, 300)
CURVES = ("ours", "default", "stock")
LONG_MESSAGES = (
    "how long is the recovery after keyhole spine surgery?",
    "how big is the incision?",
    "what are the risks of minimally invasive spine surgery",
    "how long will i stay in hospital",
    "which conditions can be treated with MISS?",
    "will i need physiotherapy afterwards",
    # doctor queries: custom actions, whose calls carry the conversation's events
    "show me the doctors in delhi",
    "which of them is cheaper",
)


def rasa_env() -> Dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }


def _rasa_train(command: List[str], name: str, workdir: Path, cache: Path) -> float:
    """``rasa train <command...> --out workdir --fixed-model-name name``, with ``cache`` as its
    own Rasa cache; seconds it took."""
    start = time.monotonic()
    subprocess.run(  # noqa: S603
        [
            str(BIN / "rasa"),
            "train",
            *command,
            "--domain",
            str(ROOT / "domain.yml"),
            "--out",
            str(workdir),
            "--fixed-model-name",
            name,
        ],
        cwd=ROOT,
        env={**rasa_env(), "RASA_CACHE_DIRECTORY": str(cache)},
        check=True,
        capture_output=True,
    )
    return time.monotonic() - start


def train(variant: Variant, workdir: Path) -> tuple[Path, float]:
    config = workdir / "config.yml"
    shutil.copy(variant.config, config)  # Rasa writes its auto-config into the file it trains
    seconds = _rasa_train(
        ["--force", "--config", str(config), "--data", str(ROOT / "data")],
        variant.name,
        workdir,
        # A fresh training cache per variant: a first training, as in a fresh clone (a full
        # .rasa/cache was suspected of slowing training; bench/levers.md).
        workdir / f"rasa-cache-{variant.name}",
    )
    return workdir / f"{variant.name}.tar.gz", seconds


def _seeded(config: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The pipeline components and policies of a loaded config.yml that set a ``random_seed``."""
    components = [c for key in ("pipeline", "policies") for c in (config.get(key) or [])]
    return [c for c in components if isinstance(c, dict) and c.get("random_seed") is not None]


def reseeded(config_text: str, seed: int) -> str | None:
    """``config_text`` with every pipeline and policy ``random_seed`` set to ``seed``; None for a
    configuration that sets none (as `rasa init` writes it: each of its trainings is a fresh draw
    and stays as shipped)."""
    config = yaml.safe_load(config_text) or {}
    seeded = _seeded(config)
    if not seeded:
        return None
    for component in seeded:
        component["random_seed"] = seed
    return str(yaml.safe_dump(config, sort_keys=False))


def draw_seed(config_text: str, draw: int) -> int | None:
    """The seed of a configuration's ``draw``-th training (0: the shipped one): the configured
    seed, then the following integers — fixed before any run, never picked by outcome."""
    seeded = _seeded(yaml.safe_load(config_text) or {})
    return int(seeded[0]["random_seed"]) + draw if seeded else None


def train_nlu_draw(variant: Variant, workdir: Path, draw: int) -> tuple[Path, int | None, float]:
    """One more NLU training of the variant's configuration (held-out accuracy depends on the
    NLU pipeline only), with its own empty Rasa cache: a cache hit would return the same
    trained components and so no new draw."""
    text = variant.config.read_text()
    seed = draw_seed(text, draw)
    config = workdir / f"config-draw{draw}.yml"
    config.write_text(text if seed is None else (reseeded(text, seed) or text))
    name = f"{variant.name}-draw{draw}"
    cache = workdir / f"rasa-cache-{name}"
    seconds = _rasa_train(
        ["nlu", "--config", str(config), "--nlu", str(ROOT / "data")], name, workdir, cache
    )
    shutil.rmtree(cache, ignore_errors=True)
    return workdir / f"{name}.tar.gz", seed, seconds


def quality(model: Path) -> Dict[str, Any]:
    out = subprocess.run(  # noqa: S603
        [str(BIN / "python"), "-m", "bench.quality", str(model)],
        cwd=ROOT,
        env=rasa_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@contextmanager
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for one run (dropped afterwards)."""
    with fresh_database(DATABASE, prefix="spine_bench") as url:
        yield url


def _children(pid: int) -> List[int]:
    out: List[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in map(int, (task / "children").read_text().split()):
            out += [child, *_children(child)]
    return out


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _kb(path: str, field: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def memory(stack: Stack, field: str = "VmRSS:") -> Dict[str, float]:
    """Memory in MB per server: "<name>" = ``field`` (VmRSS now, VmHWM = the kernel's record of
    the process's peak RSS) summed over its processes (Sanic workers included), "<name> largest" =
    the largest process's value, "<name> PSS" = proportional set size now, summed (shared library
    pages counted once across the processes)."""
    assert stack.process is not None
    totals: Dict[str, float] = {}
    for pid in _children(stack.process.pid):
        try:
            cmd = _cmd(pid)
            rss = _kb(f"/proc/{pid}/status", field) / 1024
            pss = _kb(f"/proc/{pid}/smaps_rollup", "Pss:") / 1024
        except OSError:
            continue
        if "rasa_sdk" in cmd or "rasa run actions" in cmd:
            name = "action server"
        elif "rasa run" in cmd or "multiprocessing" in cmd:  # also "python -m spine_rasa run"
            name = "rasa server"
        else:
            continue
        totals[name] = totals.get(name, 0.0) + rss
        totals[f"{name} largest"] = max(totals.get(f"{name} largest", 0.0), rss)
        totals[f"{name} PSS"] = totals.get(f"{name} PSS", 0.0) + pss
    return totals


def locust(host: str, users: int, seconds: int, prefix: Path) -> Dict[str, float]:
    subprocess.run(  # noqa: S603
        [
            str(LOCUST),
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--stop-timeout",
            "10",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        check=False,  # locust exits 1 when a request failed; the failures are counted below
        capture_output=True,
    )
    with open(f"{prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
    }


def long_conversation(base_url: str, messages: int = LONG_CONVERSATION) -> Dict[str, float]:
    """Median latency (ms) of the messages around each position of ``CURVE_AT`` in one
    conversation of ``messages`` guide questions and doctor queries, in turn."""
    sender = f"bench-long-{uuid.uuid4().hex[:8]}"
    took: List[float] = []
    for i in range(messages):
        start = time.perf_counter()
        status, _ = http(
            "POST",
            f"{base_url}/webhooks/rest/webhook",
            {"sender": sender, "message": LONG_MESSAGES[i % len(LONG_MESSAGES)]},
        )
        took.append((time.perf_counter() - start) * 1000)
        assert status == 200
    curve = {}
    for at in CURVE_AT:
        window = sorted(took[max(0, at - 6) : min(messages, at + 5)])
        curve[str(at)] = round(window[len(window) // 2], 1)
    return curve


@contextmanager
def stores(variant: Variant, workdir: Path) -> Iterator[tuple[str, str]]:
    """(database URL, endpoints.yml's stores) for the variant's stores."""
    tracker = "tracker_store:\n  type: spine_rasa.tracker_store.ProjectSQLTrackerStore\n"
    if variant.stores == "default":
        locks = "lock_store:\n  type: spine_rasa.sqlite_lock_store.SQLiteLockStore\n"
        yield f"sqlite:///{workdir / 'spine.db'}", tracker + locks
        return
    with database() as url:
        yield url, tracker + "lock_store:\n  type: spine_rasa.shared_stores.ProjectRedisLockStore\n"


def serve(variant: Variant, model: Path, users: List[int], seconds: int) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, stores(variant, Path(tmp)) as (url, kinds):
        workdir = Path(tmp)
        actions = free_port()
        endpoints = workdir / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{actions}/webhook"\n{kinds}'
        )
        redis = (
            {"REDIS_URL": REDIS, "REDIS_KEY_PREFIX": f"bench{uuid.uuid4().hex[:8]}"}
            if variant.stores == "production"
            else {}
        )
        stack = Stack(
            workdir,
            free_port(),
            actions,
            database_url=url,
            extra_env={"RASA_MODEL": str(model), **redis, **variant.env},
            processes=("actions", "rasa"),
            endpoints=endpoints,
        )
        started = time.monotonic()
        stack.start(timeout=300)
        status, _ = http(
            "POST",
            f"{stack.base_url}/webhooks/rest/webhook",
            {"sender": "bench-first", "message": "hi"},
        )
        ready = time.monotonic() - started
        assert status == 200
        idle = memory(stack)
        processes = [
            (pid, round(_kb(f"/proc/{pid}/status", "VmRSS:") / 1024), _cmd(pid)[:120])
            for pid in _children(stack.process.pid)  # type: ignore[union-attr]
        ]
        load = {}
        try:
            for n in users:
                load[n] = locust(stack.base_url, n, seconds, workdir / f"u{n}")
            curve = long_conversation(stack.base_url) if variant.name in CURVES else {}
            # Peaks from the kernel (VmHWM), read once: polling /proc during the load would take
            # CPU from the servers being measured.
            peak = memory(stack, "VmHWM:")
        finally:
            stack.stop()
        return {
            "ready_s": ready,
            "rss_idle": idle,
            "rss_peak": peak,
            "load": load,
            "long_conversation": curve,
            "stores": variant.stores,
            "workers": int(variant.env.get("SANIC_WORKERS", "1")),
            "processes": processes,
        }


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    mem = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    import rasa

    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {mem} MB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}, Rasa {rasa.__version__}; PostgreSQL tracker store "
        "and Redis lock store on the same machine; locust on the same machine"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="ours,default,stock,stock-tuned")
    parser.add_argument("--users", default="1,10,20,50")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="NAME=PATH: serve an already trained model instead of training (quick experiments)",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for our servers (experiments)"
    )
    parser.add_argument(
        "--no-quality", action="store_true", help="serving only (quick serving experiments)"
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=int(os.environ.get("BENCH_DRAWS", "4")),
        help="trainings per configuration for the held-out comparison (the full training is the "
        "first; the others are NLU trainings, ours with the next seeds, stock unseeded as shipped)",
    )
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.model)
    for served_like_ours in ("ours", "stock-tuned"):
        VARIANTS[served_like_ours].env.update(dict(item.split("=", 1) for item in args.env))
    if not LOCUST.exists():
        sys.exit("locust missing: `make bench` installs it in .venv-bench")
    users = [int(u) for u in args.users.split(",")]
    results: Dict[str, Any] = {"machine": machine(), "seconds": args.seconds, "variants": {}}
    trained: Dict[Path, tuple[Path, float | None, Dict[str, Any]]] = {}  # config → model
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants.split(","):
            variant = VARIANTS[name]
            if name in given:
                trained[variant.config] = (Path(given[name]).resolve(), None, {})
            if variant.config not in trained:
                print(f"[{name}] training ...", flush=True)
                workdir = Path(tmp) / name
                workdir.mkdir()
                fresh, seconds = train(variant, workdir)
                print(f"[{name}] trained in {seconds:.0f} s", flush=True)
                trained[variant.config] = (fresh, seconds, {})
            model, train_s, measured = trained[variant.config]
            if not measured and not args.no_quality:
                measured.update(quality(model))
                text = variant.config.read_text()
                draws = [{"seed": draw_seed(text, 0), "train_s": train_s, **measured}]
                workdir = Path(tmp) / f"{name}-draws"
                workdir.mkdir(exist_ok=True)
                for draw in range(1, args.draws):
                    print(f"[{name}] held-out draw {draw + 1}/{args.draws} ...", flush=True)
                    drawn, seed, seconds = train_nlu_draw(variant, workdir, draw)
                    draws.append({"seed": seed, "nlu_train_s": seconds, **quality(drawn)})
                    drawn.unlink()
                    print(f"[{name}] draw {draws[-1]}", flush=True)
                measured["draws"] = draws
            print(f"[{name}] {measured}; serving ...", flush=True)
            served = serve(variant, model, users, args.seconds)
            results["variants"][name] = {"train_s": train_s, "quality": measured, **served}
            print(f"[{name}] {json.dumps(served)}", flush=True)
    results["when"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args.json.write_text(json.dumps(results, indent=2))
    if args.no_quality:
        print(f"wrote {args.json} (no report without the quality numbers)")
        return
    from bench.report import render

    args.out.write_text(render(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

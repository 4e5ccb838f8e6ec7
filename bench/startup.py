"""Startup benchmark: training time, time until the server answers, and memory (RSS).

``make bench`` runs it. Issue 8 extends the benchmark (load, side-by-side stock config).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from tests.servers import ROOT, Stack, free_port

BIN = Path(sys.executable).parent


def _children(pid: int) -> List[int]:
    out: List[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            out += [child, *_children(child)]
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_rss(stack: Stack) -> Dict[str, float]:
    assert stack.process is not None
    result: Dict[str, float] = {}
    for pid in _children(stack.process.pid):
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "python" not in cmd and "/rasa " not in cmd:
            continue
        name = "action server" if " actions" in cmd else "rasa server"
        result[name] = max(result.get(name, 0.0), _rss_mb(pid))
    return result


def main() -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        subprocess.run(  # noqa: S603
            [str(BIN / "rasa"), "train", "--force", "--out", tmp, "--fixed-model-name", "bench"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        train_s = time.monotonic() - start

        stack = Stack(Path(tmp), free_port(), free_port())
        start = time.monotonic()
        stack.start()
        stack.say("bench", "how soon can I return to work after a discectomy?")
        ready_s = time.monotonic() - start
        latencies = []
        for _ in range(20):
            t0 = time.monotonic()
            stack.say("bench", "how long is the hospital stay")
            latencies.append((time.monotonic() - t0) * 1000)
        rss = server_rss(stack)
        stack.stop()
    latencies.sort()
    print(f"machine: {os.cpu_count()} cores")
    print(f"training (rasa train --force): {train_s:.0f} s")
    print(f"start until first answer over REST: {ready_s:.1f} s")
    print(f"single-user REST latency p50: {latencies[len(latencies) // 2]:.0f} ms (20 requests)")
    for name, mb in sorted(rss.items()):
        print(f"RSS {name}: {mb:.0f} MB")


if __name__ == "__main__":
    main()

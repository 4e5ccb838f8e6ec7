"""In the production profile a configured store that cannot be reached stops the Rasa
server at start with a clear message (Rasa itself would retry the database forever, or keep
conversations in memory) — and the message never contains the password."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from devstack.servers import BIN, ROOT, free_port
from tests.support.databases import require_postgres

pytestmark = pytest.mark.e2e

GOOD = {
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "ACTION_ENDPOINT_URL": "http://127.0.0.1:5055/webhook",
}


def start_production_rasa(env: Dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RABBITMQ_URL")}
    return subprocess.run(  # noqa: S603
        [
            str(BIN / "rasa"),
            "run",
            "--model",
            str(ROOT / "models" / "spine.tar.gz"),
            "--port",
            str(free_port()),
            "--endpoints",
            str(ROOT / "endpoints.prod.yml"),
            "--credentials",
            str(ROOT / "credentials.prod.yml"),
        ],
        cwd=ROOT,
        env={
            **clean,
            "ENV": "production",
            "PYTHONPATH": str(ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            {"DATABASE_URL": "postgresql://spine:s3cret@127.0.0.1:1/spine"},
            "Cannot reach the conversation database postgresql://spine:***@127.0.0.1:1/spine",
        ),
        ({"DATABASE_URL": ""}, "ENV=production: set DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:////tmp/x.db"}, "ENV=production needs DATABASE_URL=postgresql"),
        ({"REDIS_URL": "redis://:s3cret@127.0.0.1:1/1"}, "Cannot reach the Redis lock store"),
        ({"REDIS_URL": ""}, "The Redis lock store needs REDIS_URL"),
        (
            {"DATABASE_URL": "postgresql://spine:s3cret@db.example.invalid:5432/spine"},
            "DATABASE_URL reaches db.example.invalid without TLS",
        ),
        (
            {"REDIS_URL": "redis://:s3cret@redis.example.invalid:6379/1"},
            "REDIS_URL reaches redis.example.invalid without TLS; use rediss://",
        ),
        (
            {"RABBITMQ_URL": "amqp://guest:s3cret@127.0.0.1:1/"},
            "Cannot reach the RabbitMQ event broker amqp://guest:***@127.0.0.1:1/",
        ),
    ],
)
def test_an_unreachable_store_stops_the_server_with_a_clear_message(
    model_path: Path, broken: Dict[str, str], message: str
) -> None:
    env = {"DATABASE_URL": require_postgres(), **GOOD, **broken}
    result = start_production_rasa({k: v for k, v in env.items() if v})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    assert "s3cret" not in output
    assert "up and running" not in output

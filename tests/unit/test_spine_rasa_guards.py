"""Guards on the Rasa code our serving code replaces or overrides (spine_rasa/shipped.py).

The first test fails as soon as an installed Rasa's source differs from what the fixes and the
lean components were written against: re-check each named function, then re-record.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from devstack.servers import ROOT
from spine_rasa.fixes import RASA_VERSION, fixes
from spine_rasa.shipped import OVERRIDDEN, SHIPPED, changed, fingerprint

TARGETS = sorted(set(OVERRIDDEN) | {t for _, targets in fixes().values() for t in targets})


def test_the_installed_rasa_is_the_one_the_serving_code_was_written_for() -> None:
    import rasa

    assert rasa.__version__ == RASA_VERSION
    assert changed(TARGETS) == []


@pytest.mark.parametrize("target", TARGETS)
def test_every_replaced_function_has_a_recorded_fingerprint(target: str) -> None:
    assert SHIPPED[target] == fingerprint(target)


def test_a_changed_function_is_reported_and_unreadable_ones_count_as_changed() -> None:
    target = "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys"
    assert changed([target], {target: "0" * 64}) == [target]
    assert changed(["rasa.core.policies.rule_policy:RulePolicy._gone"], SHIPPED) == [
        "rasa.core.policies.rule_policy:RulePolicy._gone"
    ]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """This Python with ``args`` in a fresh process (fixes applied there, not in the tests')."""
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_fix_whose_function_changed_is_left_out_and_rasa_runs_there() -> None:
    done = _run(
        "-c",
        textwrap.dedent(
            """
        import json
        from spine_rasa import fixes
        from spine_rasa.shipped import SHIPPED
        from rasa.engine.runner.dask import DaskGraphRunner
        expected = dict(SHIPPED, **{"rasa.engine.runner.dask:DaskGraphRunner": "0" * 64})
        report = fixes.apply(expected)
        print("RESULT " + json.dumps({
            "applied": report.applied, "failed": report.failed,
            "graph_runs": fixes._installed(DaskGraphRunner, "run"),
        }))
        """
        ),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = __import__("json").loads(done.stdout.split("RESULT ", 1)[1])
    assert result["graph_runs"] is False
    assert "graph_runs" not in result["applied"]
    assert "gc_freeze" in result["applied"]
    assert "Rasa's code changed: rasa.engine.runner.dask:DaskGraphRunner" in (
        result["failed"]["graph_runs"]
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SPINE_RASA_SKIP": "gc_freeze"}, "fix gc_freeze: left out"),
        ({"SPINE_RASA_FIXES": "0"}, "does not run with SPINE_RASA_FIXES=0"),
    ],
)
def test_production_refuses_to_start_without_every_fix(env: dict, message: str) -> None:
    """The pods' memory limits are sized for the fixed process: a production server must not
    start as shipped. (The refusal comes before the model or any store is touched.)"""
    done = _run("-m", "spine_rasa", "run", "--enable-api", ENV="production", **env)
    assert done.returncode != 0
    assert message in done.stderr


def test_the_indexed_rule_policy_passes_rasas_domain_check() -> None:
    """Rasa runs this check only for RulePolicy by exact type; it must hold for the subclass."""
    import yaml
    from rasa.shared.core.domain import Domain

    from spine_rasa.policies import IndexedRulePolicy

    config = yaml.safe_load((ROOT / "config.yml").read_text())
    [policy] = [p for p in config["policies"] if p["name"].endswith("IndexedRulePolicy")]
    settings = {**IndexedRulePolicy.get_default_config(), **policy}
    IndexedRulePolicy.raise_if_incompatible_with_domain(
        settings, Domain.load(str(ROOT / "domain.yml"))
    )


def test_fingerprints_describe_rasas_code_also_once_the_fixes_are_in() -> None:
    """The test process applies the fixes when it loads the model (tests/conftest.py); the
    guards must still read Rasa's own functions, and a second apply() must count them as
    applied, not as changed."""
    done = _run(
        "-c",
        "import json\n"
        "from spine_rasa import fixes\n"
        "from spine_rasa.shipped import OVERRIDDEN, changed\n"
        "first, second = fixes.apply(), fixes.apply()\n"
        "targets = [t for _, ts in fixes.fixes().values() for t in ts] + OVERRIDDEN\n"
        "print('RESULT ' + json.dumps([first.failed, second.applied, changed(targets)]))\n",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    failed, applied, different = __import__("json").loads(done.stdout.split("RESULT ", 1)[1])
    assert failed == {}
    assert sorted(applied) == sorted(fixes())
    assert different == []

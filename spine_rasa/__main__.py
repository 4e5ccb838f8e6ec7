"""``python -m spine_rasa <rasa arguments>``: Rasa's command line with our serving fixes and an
explicit custom-action time limit (spine_rasa/timeouts.py)."""
from __future__ import annotations

import os
import sys
from typing import List

# A conversation's lock outlives a turn (actions time out after ACTION_TIMEOUT, 8 s; the guard
# answers after REPLY_DEADLINE, 10 s) but not by much: a replica that dies holding one blocks that
# patient until it expires (Rasa's default, 60 s, meant a minute of "having trouble"). Rasa reads
# it when its lock store module is imported, so it is set before anything imports Rasa.
os.environ.setdefault("TICKET_LOCK_LIFETIME", "30")

from spine_rasa.fixes import Report, before_import, enabled  # noqa: E402


def require_complete(report: Report, overridden_changed: List[str]) -> None:
    """In production, refuse to start unless every serving fix applied and the Rasa code the
    components override is the code they were written for: the pods' memory limits
    (deploy/values.yml) are sized for the fixed process, and Rasa as shipped needs ~1.75 GB."""
    problems = [f"fix {name}: {why}" for name, why in report.failed.items()]
    problems += [f"fix {name}: left out (SPINE_RASA_SKIP)" for name in report.skipped]
    problems += [f"overridden code changed: {target}" for target in overridden_changed]
    if problems:
        raise SystemExit(
            "ENV=production needs every serving fix (spine_rasa/fixes.py): " + "; ".join(problems)
        )


def main() -> None:
    # Sanic reads SANIC_* settings from the environment when Rasa creates its app: a body limit
    # for every route (the webhooks set smaller ones of their own; channels/shared.py).
    from channels.shared import SERVER_MAX_BODY
    from spine_db.config import production

    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(SERVER_MAX_BODY))
    if enabled():
        before_import()  # must run before TensorFlow is imported
        from spine_rasa.fixes import apply
        from spine_rasa.shipped import OVERRIDDEN, changed

        report = apply()
        if production():
            require_complete(report, changed(OVERRIDDEN))
    elif production():
        raise SystemExit("ENV=production does not run with SPINE_RASA_FIXES=0")
    from spine_rasa.timeouts import apply_action_timeout

    apply_action_timeout()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()

"""The custom-action call's time limit, set explicitly and below the conversation lock's lifetime.

Rasa 3.6 calls the action server with ``timeout=DEFAULT_REQUEST_TIMEOUT`` (300 s), read from
``rasa.core.actions.action`` at call time, and has no setting for it. A hung action server would
hold the conversation's lock (30 s lifetime) for five minutes, so every later message of that
patient would fail on the lock. ``ACTION_TIMEOUT`` (seconds, default 8) replaces that constant at
start-up; it must be shorter than the lock's lifetime (``TICKET_LOCK_LIFETIME``, 30 s here) and
than the channels' reply deadline (``REPLY_DEADLINE``, default 10 s), so that a failed action
still leaves time for the patient's "having trouble" reply.
"""
from __future__ import annotations

import inspect
import os

DEFAULT_ACTION_TIMEOUT = 8.0


def action_timeout() -> float:
    return float(os.environ.get("ACTION_TIMEOUT", "") or DEFAULT_ACTION_TIMEOUT)


def apply_action_timeout() -> float:
    """Sets the limit; refuses to start when it is not below the lock's lifetime or when Rasa no
    longer reads the constant (another version), so the setting can never silently not apply."""
    import aiohttp
    import rasa.core.actions.action as action
    from rasa.core.lock_store import LOCK_LIFETIME

    timeout = action_timeout()
    if not 0 < timeout < LOCK_LIFETIME:
        raise SystemExit(
            f"ACTION_TIMEOUT={timeout:g}s must be above 0 and below the lock lifetime "
            f"({LOCK_LIFETIME}s, TICKET_LOCK_LIFETIME)"
        )
    if "timeout=DEFAULT_REQUEST_TIMEOUT" not in inspect.getsource(action.RemoteAction.run):
        raise SystemExit("This Rasa version calls actions differently: ACTION_TIMEOUT not applied")
    action.DEFAULT_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=timeout)  # type: ignore[assignment]
    return timeout

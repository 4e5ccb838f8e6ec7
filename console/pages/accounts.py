"""Staff accounts, managed by an admin."""
from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import AccountError, Session
from console.web import (
    Console,
)


def register(console: Blueprint, web: Console) -> None:
    """Mounts this page's routes on ``console``, over the console's shared state ``web``."""

    @console.get("/accounts")
    @web.login_required
    @web.admin_only("manage accounts")
    async def staff_accounts(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        return web.render(
            "accounts.html", session=session, rows=web.accounts.accounts(), message=None
        )

    @console.post("/accounts")
    @web.login_required
    @web.admin_only("manage accounts")
    async def change_account(request: Request) -> HTTPResponse:
        """Deactivate / reactivate, switch the role, end the sessions or reset the password of
        a staff account (admin only, audited; never one's own role or activation)."""
        session: Session = request.ctx.session
        form = request.form
        username, do = form.get("username") or "", form.get("do") or ""
        rows = {row["username"]: row for row in web.accounts.accounts()}
        try:
            if username not in rows:
                raise AccountError(f"no user {username!r}")
            if username == session.staff.username and do in ("deactivate", "role"):
                raise AccountError("an admin cannot lock themselves out")
            if do in ("deactivate", "reactivate"):
                web.accounts.set_active(username, do == "reactivate")
                detail = f"{do}d"
            elif do == "role":
                role = "agent" if rows[username]["role"] == "admin" else "admin"
                web.accounts.set_role(username, role)
                detail = f"role {role}"
            elif do == "password":
                web.accounts.reset_password(username, form.get("password") or "")
                detail = "password reset; sessions ended"
            elif do == "logout":
                detail = f"{web.accounts.end_sessions(username)} sessions ended"
            else:
                raise AccountError("unknown change")
        except AccountError as error:
            message = f"Not changed: {error}"
        else:
            web.accounts.audit(session.staff, "account", username, detail)
            message = f"{username}: {detail}."
        return web.render(
            "accounts.html", session=session, rows=web.accounts.accounts(), message=message
        )

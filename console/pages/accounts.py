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
    accounts = web.accounts
    render = web.render
    login_required = web.login_required
    admin_only = web.admin_only

    @console.get("/accounts")
    @login_required
    @admin_only("manage accounts")
    async def staff_accounts(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        return render("accounts.html", session=session, rows=accounts.accounts(), message=None)

    @console.post("/accounts")
    @login_required
    @admin_only("manage accounts")
    async def change_account(request: Request) -> HTTPResponse:
        """Deactivate / reactivate, switch the role, end the sessions or reset the password of
        a staff account (admin only, audited; never one's own role or activation)."""
        session: Session = request.ctx.session
        form = request.form
        username, do = form.get("username") or "", form.get("do") or ""
        rows = {row["username"]: row for row in accounts.accounts()}
        try:
            if username not in rows:
                raise AccountError(f"no user {username!r}")
            if username == session.staff.username and do in ("deactivate", "role"):
                raise AccountError("an admin cannot lock themselves out")
            if do in ("deactivate", "reactivate"):
                accounts.set_active(username, do == "reactivate")
                detail = f"{do}d"
            elif do == "role":
                role = "agent" if rows[username]["role"] == "admin" else "admin"
                accounts.set_role(username, role)
                detail = f"role {role}"
            elif do == "password":
                accounts.reset_password(username, form.get("password") or "")
                detail = "password reset; sessions ended"
            elif do == "logout":
                detail = f"{accounts.end_sessions(username)} sessions ended"
            else:
                raise AccountError("unknown change")
        except AccountError as error:
            message = f"Not changed: {error}"
        else:
            accounts.audit(session.staff, "account", username, detail)
            message = f"{username}: {detail}."
        return render("accounts.html", session=session, rows=accounts.accounts(), message=message)

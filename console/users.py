"""Console accounts from the command line:

    python -m console.users add NAME --role agent|admin
    python -m console.users list
    python -m console.users deactivate|reactivate NAME
    python -m console.users role NAME --role agent|admin
    python -m console.users password NAME        # reset; the user's sessions end
    python -m console.users logout NAME          # end the user's sessions

Passwords are read from the terminal (twice), or from stdin with ``--password-stdin``; never from
the command line (shell history) and never printed. Every change is written to the audit log.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

import sqlalchemy as sa

from console.accounts import ROLES, AccountError, Accounts, Staff
from spine_db import migrate
from spine_db.config import database_url


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != password:
        print("Passwords differ; nothing changed.", file=sys.stderr)
        return None
    return password


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage staff accounts of the review console")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", help="list the accounts")
    for name, text in (
        ("deactivate", "block an account (its sessions end)"),
        ("reactivate", "unblock an account"),
        ("logout", "end an account's sessions"),
    ):
        sub.add_parser(name, help=text).add_argument("username")
    role = sub.add_parser("role", help="change an account's role")
    role.add_argument("username")
    role.add_argument("--role", choices=ROLES, required=True)
    reset = sub.add_parser("password", help="set a new password (the account's sessions end)")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)
    url = database_url()
    migrate.upgrade(url)
    accounts = Accounts(sa.create_engine(url, future=True))
    # the operator of the command line, for the audit log
    operator = Staff(f"cli:{os.environ.get('USER') or 'unknown'}", "admin")
    try:
        if args.command == "list":
            for row in accounts.accounts():
                state = "active" if row["active"] else "deactivated"
                print(
                    f"{row['username']:<24} {row['role']:<6} {state:<12} "
                    f"last login {row['last_login_at'] or 'never'}"
                )
            return 0
        if args.command in ("add", "password"):
            password = _password(args.password_stdin)
            if password is None:
                return 1
            if args.command == "add":
                staff = accounts.add(args.username, password, args.role)
                accounts.audit(operator, "account", args.username, f"created as {staff.role}")
                print(f"Created {staff.role} account {staff.username!r}.")
                return 0
            accounts.reset_password(args.username, password)
            accounts.audit(operator, "account", args.username, "password reset; sessions ended")
            print(f"Password of {args.username!r} reset; its sessions ended.")
            return 0
        if args.command in ("deactivate", "reactivate"):
            accounts.set_active(args.username, args.command == "reactivate")
            accounts.audit(operator, "account", args.username, f"{args.command}d")
            print(f"{args.username!r} {args.command}d.")
            return 0
        if args.command == "role":
            accounts.set_role(args.username, args.role)
            accounts.audit(operator, "account", args.username, f"role {args.role}")
            print(f"{args.username!r} is now {args.role}.")
            return 0
        ended = accounts.end_sessions(args.username)
        accounts.audit(operator, "account", args.username, f"{ended} sessions ended")
        print(f"{ended} session(s) of {args.username!r} ended.")
        return 0
    except AccountError as error:
        print(f"Not changed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

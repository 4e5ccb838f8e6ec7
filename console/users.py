"""Create console accounts: ``python -m console.users add NAME --role agent|admin``.

The password is read from the terminal (twice), or from stdin with ``--password-stdin``; it is never
taken from the command line (shell history) and never printed.
"""
from __future__ import annotations

import argparse
import getpass
import sys

import sqlalchemy as sa

from console.accounts import ROLES, AccountError, Accounts
from spine_db import migrate
from spine_db.config import database_url


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage staff accounts of the review console")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    args = parser.parse_args(argv)
    url = database_url()
    migrate.upgrade(url)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            print("Passwords differ; nothing created.", file=sys.stderr)
            return 1
    try:
        staff = Accounts(sa.create_engine(url, future=True)).add(args.username, password, args.role)
    except AccountError as error:
        print(f"Not created: {error}", file=sys.stderr)
        return 1
    print(f"Created {staff.role} account {staff.username!r}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

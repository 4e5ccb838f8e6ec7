"""``python -m webapp [--port 8000]``: serve the demo page and the widget."""
from __future__ import annotations

import argparse
import os

from webapp.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
    args = parser.parse_args()
    create_app().run(host=args.host, port=args.port, access_log=False, motd=False)


if __name__ == "__main__":
    main()

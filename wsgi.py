"""WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Bad configuration prints one line and exits with gunicorn's "app failed to load" code (4),
which stops the arbiter instead of respawning workers that would fail the same way.
"""

import sys

from authserver.app import create_app
from authserver.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"authserver: {exc}", file=sys.stderr)
    raise SystemExit(4) from None

"""WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Bad configuration prints one line and exits with gunicorn's "app failed to load" code (4),
which stops the arbiter instead of respawning workers that would fail the same way.
(config/gunicorn.conf.py also checks the configuration once in the master, so that several
workers do not each print the same line.)
"""

import sys

from authserver import cli
from authserver.app import create_app
from authserver.config import ConfigError
from authserver.services.errors import ServiceError

try:
    app = create_app()
except (ConfigError, ServiceError) as exc:  # ServiceError: AUTHSERVER_POLICY_FILE unusable
    print(f"authserver: {exc}", file=sys.stderr)
    raise SystemExit(4) from None
cli.init_app(app)  # `flask --app wsgi ...` offers the commands of `authserver ...`

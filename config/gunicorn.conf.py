"""gunicorn settings: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Each value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("AUTHSERVER_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("AUTHSERVER_WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
# gunicorn 27 opens a control socket at one fixed path: several instances on one host would
# fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = None
errorlog = "-"
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

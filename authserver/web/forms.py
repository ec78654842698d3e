"""A urlencoded body parsed as Werkzeug parses it, without its form-parser machinery.

Werkzeug builds a ``FormDataParser`` per request (its limits read through the app
context), reads the body again from a new stream and dispatches on the mimetype; for
``application/x-www-form-urlencoded`` it then does exactly ``parse_qsl(body.decode(),
keep_blank_values=True, errors="werkzeug.url_quote")`` into the request's multidict
class. The OAuth endpoints read only such forms, on every request: here the same call
fills ``request.form`` from the body already read, the same items in the same class (a
third of the cost). Anything else (another type, a body that is not UTF-8, debug mode's
helpful multidict) is left to Werkzeug.
"""

from __future__ import annotations

from io import BytesIO
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" error handler
from flask import Request

FORM_TYPE = "application/x-www-form-urlencoded"


def parse_urlencoded(request: Request, debug: bool = False) -> None:
    """Fill ``request.form`` (and ``files``, ``stream``) as Werkzeug would, if its body is
    a urlencoded form in UTF-8 and the form was not parsed yet."""
    state = request.__dict__
    if debug or "form" in state or request.mimetype != FORM_TYPE:
        return
    body = request.get_data(cache=True)
    try:
        items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
    except ValueError:  # not UTF-8: Werkzeug's form would be empty; the checks refuse it
        return
    stream = BytesIO(body)
    stream.seek(0, 2)  # as Werkzeug leaves it: read to the end
    form, files = request.parameter_storage_class(items), request.parameter_storage_class()
    state["stream"], state["form"], state["files"] = stream, form, files

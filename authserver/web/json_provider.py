"""Flask's JSON provider, answering with one encoder made once instead of one per answer.

``DefaultJSONProvider.response`` calls ``json.dumps`` with a ``default`` function, and
``json.dumps`` makes a new ``JSONEncoder`` whenever it is given any argument: every JSON
answer paid for building one. Here the compact answer (out of debug mode) is encoded by
an encoder made when the app is, with the same settings, so the bytes are the same.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response


class JSONProvider(DefaultJSONProvider):
    """DefaultJSONProvider with its keys in the order the code builds them, and one
    encoder for compact answers."""

    sort_keys = False  # answers keep the order their code builds them in

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._encoder = json.JSONEncoder(
            default=self.default,
            ensure_ascii=self.ensure_ascii,
            sort_keys=self.sort_keys,
            separators=(",", ":"),
        )

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented: the encoder above is not
        obj = self._prepare_response_obj(args, kwargs)
        body = self._encoder.encode(obj) + "\n"
        return self._app.response_class(body, mimetype=self.mimetype)

"""web/forms.py: a urlencoded body parsed exactly as Werkzeug parses it."""

from __future__ import annotations

import pytest
from flask import Flask

from authserver.web.forms import parse_urlencoded

BODIES = [
    b"grant_type=password&username=alice&password=s%C3%A9cret",
    b"a=1&a=2&b=&c",
    b"scope=profile+documents%3Aread&x=%zz&y=%",
    b"bytes=%ff%C3&half=%C3",  # escapes that are not UTF-8: Werkzeug's error handler
    b"",
    b"&&=&k=v=w",
    "naïve=ü".encode(),
]


def _forms(body: bytes, content_type: str = "application/x-www-form-urlencoded"):
    app = Flask(__name__)
    headers = {"Content-Type": content_type}
    with app.test_request_context("/", method="POST", data=body, headers=headers) as werkzeug:
        expected = werkzeug.request.form.to_dict(flat=False)
    with app.test_request_context("/", method="POST", data=body, headers=headers) as ours:
        parse_urlencoded(ours.request)
        parsed = "form" in ours.request.__dict__
        got = ours.request.form.to_dict(flat=False)
        if parsed:  # read to the end, as Werkzeug leaves it
            assert ours.request.stream.read() == b""
        assert not ours.request.files
    return expected, got, parsed


@pytest.mark.parametrize("body", BODIES)
def test_the_same_items_as_werkzeug(body):
    expected, got, parsed = _forms(body)
    assert parsed
    assert got == expected


def test_a_body_that_is_not_utf8_is_left_to_werkzeug():
    expected, got, parsed = _forms(b"name=\xff\xfe")
    assert not parsed
    assert got == expected == {}


def test_another_content_type_is_left_to_werkzeug():
    expected, got, parsed = _forms(b'{"a": 1}', "application/json")
    assert not parsed
    assert got == expected == {}


def test_debug_mode_is_left_to_werkzeug():
    app = Flask(__name__)
    with app.test_request_context("/", method="POST", data={"a": "1"}) as context:
        parse_urlencoded(context.request, debug=True)
        assert "form" not in context.request.__dict__

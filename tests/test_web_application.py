"""web/application.py: Flask's ensure_sync, remembered for plain functions only."""

from __future__ import annotations

import pytest

from authserver.web.application import AuthServerFlask


def test_a_plain_view_is_remembered_and_returned_as_it_is():
    app = AuthServerFlask(__name__)

    @app.get("/plain")
    def plain():
        return {"plain": True}

    client = app.test_client()
    assert client.get("/plain").get_json() == {"plain": True}
    assert plain in app._plain
    assert app.ensure_sync(plain) is plain
    assert client.get("/plain").get_json() == {"plain": True}


def test_a_coroutine_function_is_never_taken_for_a_plain_one():
    """Flask would wrap it (here, without flask[async], it refuses it): either way, never
    the function itself, and not remembered, however often it is asked about."""
    app = AuthServerFlask(__name__)

    async def coroutine():
        return {"async": True}

    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(coroutine)
    assert coroutine not in app._plain


def test_an_unhashable_callable_is_asked_about_each_time():
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self):
            return "called"

    app = AuthServerFlask(__name__)
    function = Unhashable()
    assert app.ensure_sync(function) is function
    assert app._plain == set()

"""A TCP relay between the kit app and the server that can cut the change feed alone.

The kit reaches the server (its issuer) through this relay. ``cut_feed()`` closes the
feed's open connections and refuses new ones (a request whose first line is ``GET
/oauth/changes``), while every other request (metadata, JWKS, introspection) still goes
through: the feed is lost, the server is not. ``restore_feed()`` lets it through again.
"""

from __future__ import annotations

import contextlib
import socket
import threading

FEED_REQUEST = b"GET /oauth/changes"


class FeedCutter:
    def __init__(self, upstream_port: int, port: int) -> None:
        self.upstream_port = upstream_port
        self.cut = threading.Event()
        self._feeds: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_feed(self) -> None:
        self.cut.set()
        with self._lock:
            feeds, self._feeds = self._feeds, set()
        for connection in feeds:
            _close(connection)

    def restore_feed(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self._closed = True
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            first = client.recv(65536)
        except OSError:
            _close(client)
            return
        feed = first.startswith(FEED_REQUEST)
        if feed and self.cut.is_set():
            _close(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        if feed:
            with self._lock:
                self._feeds.update((client, upstream))
        with contextlib.suppress(OSError):
            upstream.sendall(first)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()

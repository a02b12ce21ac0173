"""`Link`: a loopback TCP proxy in front of a server whose `drop` cuts every open connection:
a network fault caused for real (a reset socket), for experiments on a networked broker.

Point a client at ``link.url`` instead of the server's; `drop` resets the connections that
are open (the client sees its socket die and reconnects through the link), and ``cut()`` /
``mend()`` refuse new connections for a while (an outage between client and server).

>>> import contextlib, socket, threading
>>> server = socket.create_server(("127.0.0.1", 0))
>>> def echo(server):  # one connection: the link's
...     conn, _ = server.accept()
...     with conn, contextlib.suppress(OSError):  # until the link resets it
...         while data := conn.recv(5):
...             conn.sendall(data)
>>> _ = threading.Thread(target=echo, args=(server,), daemon=True).start()
>>> with Link(server.getsockname()[1]) as link:
...     client = socket.create_connection(("127.0.0.1", link.port))
...     client.sendall(b"hello")
...     client.recv(5), link.drop(), client.recv(5)
(b'hello', 1, b'')
>>> client.close(), server.close()
(None, None)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

__all__ = ["Link"]


class Link:
    """A TCP proxy on a free loopback port forwarding to ``host:port``."""

    def __init__(self, port: int, host: str = "127.0.0.1", scheme: str = "nats"):
        self.target = (host, port)
        self.scheme = scheme
        self.drops = 0  # connections cut by `drop`
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="edalab-link").start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"Link({self.url} -> {self.target[0]}:{self.target[1]}, drops={self.drops})"

    def drop(self) -> int:
        """Reset every open connection (both sides); returns how many client connections
        were cut. New connections are accepted again at once (unless `cut`)."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            _reset(s)
        cut = len(sockets) // 2  # a client socket and its server socket each
        self.drops += cut
        return cut

    def cut(self) -> None:
        """Drop every connection and refuse new ones until `mend`."""
        self._cut = True
        self.drop()

    def mend(self) -> None:
        """Accept connections again after `cut`."""
        self._cut = False

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.drop()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._cut:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := source.recv(65536):
                    sink.sendall(data)
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _reset(sink)
            _reset(source)


def _reset(s: socket.socket) -> None:
    """Close at once, as a broken network does: no lingering (SO_LINGER 0), and shut down
    first, which also wakes the link's thread blocked reading it."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()

"""A TCP relay to PostgreSQL that records the message types clients send.

Put between the app and the session database, it shows what the driver
writes on the wire (Parse, Bind, Execute, Sync, Flush...), which is what a
transaction-mode pooler reacts to. It can also drop a connection at a chosen
point, as a pooler or a network does when the server goes away.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# Untyped requests that may come before the startup message.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class FrontendMessages:
    """The client-to-server messages of one connection, parsed as they pass."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self._buffer = b""
        self._started = False
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data
            while True:
                if not self._started:
                    if len(self._buffer) < 8:
                        return
                    length, code = struct.unpack("!ii", self._buffer[:8])
                    if len(self._buffer) < length:
                        return
                    self._buffer = self._buffer[length:]
                    # SSL and GSS requests come first, then the startup message.
                    self._started = code not in (_SSL_REQUEST, _GSSENC_REQUEST)
                    continue
                if len(self._buffer) < 5:
                    return
                (length,) = struct.unpack("!i", self._buffer[1:5])
                if len(self._buffer) < 1 + length:
                    return
                self.types.append(chr(self._buffer[0]))
                self._buffer = self._buffer[1 + length :]


class RecordingRelay:
    """Relays 127.0.0.1:<port> to a PostgreSQL server, recording each connection.

    host is a name, an address or (as libpq reads it) a Unix socket directory.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port_of_target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[FrontendMessages] = []
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._cut_at = "S"
        self._cut_armed = threading.Event()
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        self._spawn(self._accept)

    def close(self) -> None:
        self._closing = True
        self._listener.close()

    def cut_at_next(self, message_type: str) -> None:
        """Drop the next connection that sends message_type, before the server sees it.

        The whole chunk that holds the message is dropped, with what came
        before it in that chunk. "B" (Bind) cuts a request as it sends its
        first statement, "S" (Sync) once it has sent them all: the server
        went away mid-transaction.
        """
        self._cut_at = message_type
        self._cut_armed.set()

    def cut_now(self) -> None:
        """Drop every connection, both ends, before returning."""
        for end in self._sockets:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = self._connect()
            self._sockets += (client, server)
            messages = FrontendMessages()
            self.connections.append(messages)
            self._spawn(self._pump, client, server, messages)
            self._spawn(self._pump, server, client, None)

    def _connect(self) -> socket.socket:
        if self._host.startswith("/"):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(f"{self._host}/.s.PGSQL.{self._port_of_target}")
            return server
        return socket.create_connection((self._host, self._port_of_target))

    def _pump(
        self, source: socket.socket, sink: socket.socket, record: FrontendMessages | None
    ) -> None:
        try:
            while data := source.recv(65536):
                if record is not None:
                    seen = len(record.types)
                    record.feed(data)
                    if self._cut_armed.is_set() and self._cut_at in record.types[seen:]:
                        self._cut_armed.clear()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


@contextmanager
def recording_relay(host: str, port: int) -> Iterator[RecordingRelay]:
    relay = RecordingRelay(host, port)
    relay.start()
    try:
        yield relay
    finally:
        relay.close()

"""Network faults on demand (issue 9, parts 2 and 3): a TCP proxy between the product and Dovecot.

One fault per proxy, chosen by the campaign: cut the connection after N
bytes in one direction (which lands inside a SELECT, a FETCH, an APPEND
before or after the server's tagged OK...), stall it after N bytes (the
client's timeout ends it), refuse it, or call ``on_strike`` after N bytes
(the campaign restarts Dovecot there, in the middle of a pass). The proxy
also keeps what the client sent, so a campaign can read the protocol log.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    kind: str  # "cut" | "stall" | "refuse" | "restart" | "slow" | "kill" | "none" ("kill": the campaign's own)
    direction: str = "down"  # "down": server to client; "up": client to server
    after: int = 0  # bytes that pass before the fault
    rate: int = 20_000  # "slow": bytes a second in ``direction``, from the start
    how: str = ""  # "damage" (the campaign's): garbage, half or page


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, fault: Fault,
                 on_strike: Callable[[], None] | None = None) -> None:
        self.target = (target_host, target_port)
        self.fault = fault
        self.on_strike = on_strike
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.sent = bytearray()  # what the client sent, every connection in order
        self.first_contact: float | None = None  # time.monotonic() of the first connection
        self._passed = {"up": 0, "down": 0}
        self._struck = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.first_contact is None:
                self.first_contact = time.monotonic()
            if self.fault.kind == "refuse" and not self._struck:
                self._struck = True
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        slow = self.fault.kind == "slow" and self.fault.direction == direction
        try:
            while data := source.recv(1024 if slow else 4096):
                if direction == "up":
                    self.sent += data
                data = self._let_through(data, direction, source, sink)
                if data is None:
                    return
                if slow:  # a slow link: the data arrives at ``rate``
                    time.sleep(len(data) / self.fault.rate)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _let_through(self, data: bytes, direction: str, source: socket.socket, sink: socket.socket) -> bytes | None:
        """The part of ``data`` the fault lets pass; None once the connection is cut."""
        fault = self.fault
        with self._lock:
            if fault.kind not in ("cut", "stall", "restart") or fault.direction != direction or self._struck:
                return data
            room = fault.after - self._passed[direction]
            if len(data) <= room:
                self._passed[direction] += len(data)
                return data
            self._struck = True
        if room > 0:
            sink.sendall(data[:room])
        if fault.kind == "restart" and self.on_strike is not None:
            self.on_strike()  # the server goes away under the connection, as in an upgrade
        if fault.kind == "stall":
            time.sleep(30)  # longer than any client timeout in the campaign: the client gives up
        self._close(source, sink)
        return None

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    @property
    def struck(self) -> bool:
        return self._struck

    def close(self) -> None:
        self.listener.close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

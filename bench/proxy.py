"""A TCP proxy on loopback that adds a fixed one-way delay, to simulate EMR -> RDS latency.

Each direction is a delay line: a reader thread timestamps every chunk it
receives and a writer thread forwards it ``delay_ms / 2`` later. Chunks are
pipelined (a chunk is not held back by the ones behind it), so the proxy adds
latency per round trip without capping throughput the way a "sleep, then
send" loop would. ``--latency-ms 10`` therefore means about 10 ms per
request/response round trip, like a client and a database in different zones.
"""

from __future__ import annotations

import queue
import socket
import threading
import time

CHUNK = 256 * 1024
QUEUE_CHUNKS = 512  # bounds memory at ~128 MB per direction while the receiver is slow


class LatencyProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay_ms: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.one_way = max(0.0, delay_ms) / 2000.0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="latency-proxy", daemon=True)

    def start(self) -> LatencyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = [2, threading.Lock()]
            self._pipe(client, server, pending)
            self._pipe(server, client, pending)

    def _pipe(self, src: socket.socket, dst: socket.socket, pending: list) -> None:
        line: queue.Queue[tuple[float, bytes]] = queue.Queue(QUEUE_CHUNKS)

        def reader() -> None:
            try:
                while True:
                    data = src.recv(CHUNK)
                    line.put((time.monotonic() + self.one_way, data))
                    if not data:
                        return
            except OSError:
                line.put((0.0, b""))

        def writer() -> None:
            try:
                while True:
                    due, data = line.get()
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    if not data:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(data)
            except OSError:  # one side went away: wake up the other direction too
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            finally:
                with pending[1]:
                    pending[0] -= 1
                    last = pending[0] == 0
                if last:  # both directions are done: release the sockets
                    for s in (src, dst):
                        try:
                            s.close()
                        except OSError:
                            pass

        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

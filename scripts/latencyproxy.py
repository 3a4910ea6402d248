#!/usr/bin/env python3
"""A TCP proxy that puts a server some milliseconds away (loopback only): every byte is
forwarded after a fixed one-way delay of RTT/2 in each direction, in order and without
limiting throughput (each piece is scheduled for its arrival time + RTT/2; reading goes on
meanwhile, up to --max-buffer-mb held per direction and connection).

    latencyproxy.py --target 127.0.0.1:8080 --rtt-ms 20 [--listen-port 0] [--port-file F]
                    [--stats-file F]

A new connection pays the TCP handshake too: the client's first bytes leave one RTT after it
connected, so a request on a fresh connection takes 2 RTT and one on a kept-alive connection
1 RTT, as across a real network (no TLS). Half-closes are passed on (after the delay);
a peer that goes away closes the other side once what it sent has been delivered.

Counters (connections, HTTP requests by method, bytes each way) are written as JSON to
--stats-file on SIGUSR1 (a snapshot; nothing is reset: subtract two snapshots) and on
SIGTERM/SIGINT, which also stop the proxy. Each write increments "snapshot", so a script can
wait for the file to change after it sent SIGUSR1. Requests are counted by following the
client's byte stream: a request head ("\\r\\n\\r\\n"-terminated) that starts with a method,
then its body (Content-Length or chunked) is skipped.

Prints "listening on PORT" (and writes PORT to --port-file, atomically).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import sys

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")


class Stats:
    def __init__(self, target: str, rtt_ms: float) -> None:
        self.target = target
        self.rtt_ms = rtt_ms
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.requests = 0
        self.methods: collections.Counter[str] = collections.Counter()
        self.bytes_to_server = 0
        self.bytes_to_client = 0
        self.upstream_failures = 0
        self.unparsed_connections = 0
        self.snapshot = 0

    def as_dict(self) -> dict:
        return {"target": self.target, "rtt_ms": self.rtt_ms, "connections": self.connections,
                "active_connections": self.active, "max_active_connections": self.max_active,
                "requests": self.requests, "methods": dict(self.methods),
                "bytes_to_server": self.bytes_to_server, "bytes_to_client": self.bytes_to_client,
                "upstream_failures": self.upstream_failures, "unparsed_connections": self.unparsed_connections,
                "snapshot": self.snapshot}

    def write(self, path: str | None) -> None:
        self.snapshot += 1
        if not path:
            return
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.as_dict(), f)
            f.write("\n")
        os.replace(tmp, path)


class RequestCounter:
    """Follows one connection's client-to-server bytes: request heads, then their bodies."""

    MAX_LINE = 65536

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buf = bytearray()
        self.state = "head"  # head | chunk-size | trailer
        self.skip = 0        # body bytes still to pass over
        self.dead = False

    def feed(self, data: bytes) -> None:
        if self.dead:
            return
        if self.skip and not self.buf:  # the common case of a body: no copy
            n = min(self.skip, len(data))
            self.skip -= n
            data = data[n:]
        self.buf += data
        while not self.dead:
            if self.skip:
                n = min(self.skip, len(self.buf))
                del self.buf[:n]
                self.skip -= n
                if self.skip:
                    return
            sep = b"\r\n\r\n" if self.state == "head" else b"\r\n"
            i = self.buf.find(sep)
            if i < 0:
                if len(self.buf) > self.MAX_LINE:
                    self._give_up()
                return
            part = bytes(self.buf[:i])
            del self.buf[:i + len(sep)]
            if self.state == "head":
                self._head(part)
            elif self.state == "chunk-size":
                try:
                    size = int(part.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self._give_up()
                    return
                if size == 0:
                    self.state = "trailer"
                else:
                    self.skip = size + 2  # the data and its CRLF
            elif part == b"":  # trailer: ends with an empty line
                self.state = "head"

    def _give_up(self) -> None:
        self.dead = True
        self.buf.clear()
        self.stats.unparsed_connections += 1

    def _head(self, head: bytes) -> None:
        head = head.lstrip(b"\r\n")  # stray CRLFs between requests are allowed
        if not head.startswith(METHODS):
            return
        method = head.split(b" ", 1)[0].decode("ascii", "replace")
        self.stats.requests += 1
        self.stats.methods[method] += 1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    self.skip = int(value.strip())
                except ValueError:
                    self._give_up()
                    return
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self.state = "chunk-size"


class Pipe:
    """One direction of a connection: each piece is written to `dst` at its arrival time +
    `delay` (never before `not_before` + `delay`), in arrival order. None stands for EOF."""

    def __init__(self, conn: "Connection", delay: float, not_before: float) -> None:
        self.conn = conn
        self.loop = conn.loop
        self.delay = delay
        self.not_before = not_before
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.queued = 0
        self.dst: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.eof_in = False   # EOF (or the source gone) queued
        self.done = False     # EOF delivered, or the destination gone

    def push(self, data: bytes | None) -> None:
        if self.done or self.eof_in:
            return
        if data is None:
            self.eof_in = True
        now = self.loop.time()
        due = max(now, self.not_before) + self.delay
        if not self.queue and self.timer is None and self.dst is not None and due <= now:
            self._deliver(data)  # no delay to wait for (--rtt-ms 0)
            return
        self.queue.append((due, data))
        if data is not None:
            self.queued += len(data)
        self.arm()

    def arm(self) -> None:
        if self.timer is None and self.queue and self.dst is not None and not self.done:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        # The timer was set for the head of the queue: deliver it, then whatever else is due.
        limit = self.loop.time() + 1e-4
        first = True
        while self.queue and not self.done and (first or self.queue[0][0] <= limit):
            first = False
            _, data = self.queue.popleft()
            if data is not None:
                self.queued -= len(data)
            self._deliver(data)
        self.arm()
        self.conn.flow()

    def _deliver(self, data: bytes | None) -> None:
        dst = self.dst
        if dst is None or dst.is_closing():
            self.discard()
            return
        if data is not None:
            dst.write(data)
            return
        try:
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()
        except (OSError, RuntimeError):
            dst.close()
        self.done = True
        self.conn.pipe_done()

    def discard(self) -> None:
        """The destination is gone: nothing more can be delivered."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.queued = 0
        if not self.done:
            self.done = True
            self.conn.pipe_done()


class Connection:
    def __init__(self, proxy: "Proxy", client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client = client
        self.upstream: asyncio.Transport | None = None
        now = self.loop.time()
        rtt = proxy.rtt
        # The handshake: the client can send its first byte one RTT after it called connect().
        self.up = Pipe(self, rtt / 2, now + rtt)
        self.down = Pipe(self, rtt / 2, now)
        self.down.dst = client
        self.counter = RequestCounter(proxy.stats)
        self.closed = False
        self.paused = {"client": False, "upstream": False}
        self.task = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        host, port = self.proxy.target
        try:
            await self.loop.create_connection(lambda: UpstreamProtocol(self), host, port)
        except OSError:
            self.proxy.stats.upstream_failures += 1
            # As a refused connection looks from afar: the client sees the close after the delay.
            self.up.discard()
            self.down.push(None)

    def upstream_made(self, transport: asyncio.Transport) -> None:
        if self.closed:
            transport.abort()
            return
        self.upstream = transport
        self.up.dst = transport
        self.up.arm()
        self.flow()

    # Bytes in.
    def from_client(self, data: bytes) -> None:
        self.proxy.stats.bytes_to_server += len(data)
        self.counter.feed(data)
        self.up.push(data)
        self.flow()

    def from_upstream(self, data: bytes) -> None:
        self.proxy.stats.bytes_to_client += len(data)
        self.down.push(data)
        self.flow()

    # Ends.
    def client_lost(self) -> None:
        self.down.discard()
        self.up.push(None)  # the server sees the client go once its last bytes arrived

    def upstream_lost(self) -> None:
        self.up.discard()
        self.down.push(None)

    def pipe_done(self) -> None:
        if self.up.done and self.down.done:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.stats.active -= 1
        for t in (self.client, self.upstream):
            if t is not None and not t.is_closing():
                t.close()
        if not self.task.done() and self.upstream is None:
            self.task.cancel()

    # Flow control: stop reading a side while too much of what it sent waits to be delivered.
    def flow(self) -> None:
        limit = self.proxy.max_buffer
        for name, src, pipe in (("client", self.client, self.up), ("upstream", self.upstream, self.down)):
            if src is None or src.is_closing():
                continue
            dst = pipe.dst
            held = pipe.queued + (dst.get_write_buffer_size() if dst is not None and not dst.is_closing() else 0)
            if held > limit and not self.paused[name]:
                src.pause_reading()
                self.paused[name] = True
            elif held < limit // 2 and self.paused[name]:
                src.resume_reading()
                self.paused[name] = False


class ClientProtocol(asyncio.Protocol):
    def __init__(self, proxy: "Proxy") -> None:
        self.proxy = proxy
        self.conn: Connection | None = None

    def connection_made(self, transport) -> None:
        stats = self.proxy.stats
        stats.connections += 1
        stats.active += 1
        stats.max_active = max(stats.max_active, stats.active)
        self.conn = Connection(self.proxy, transport)

    def data_received(self, data: bytes) -> None:
        self.conn.from_client(data)

    def eof_received(self) -> bool:
        self.conn.up.push(None)
        return True  # keep the transport open: the response may still be on its way

    def resume_writing(self) -> None:
        self.conn.flow()

    def connection_lost(self, exc) -> None:
        self.conn.client_lost()


class UpstreamProtocol(asyncio.Protocol):
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def connection_made(self, transport) -> None:
        self.conn.upstream_made(transport)

    def data_received(self, data: bytes) -> None:
        self.conn.from_upstream(data)

    def eof_received(self) -> bool:
        self.conn.down.push(None)
        return True

    def resume_writing(self) -> None:
        self.conn.flow()

    def connection_lost(self, exc) -> None:
        self.conn.upstream_lost()


class Proxy:
    def __init__(self, loop: asyncio.AbstractEventLoop, target: tuple[str, int], rtt_ms: float,
                 max_buffer: int, stats: Stats) -> None:
        self.loop = loop
        self.target = target
        self.rtt = rtt_ms / 1000.0
        self.max_buffer = max_buffer
        self.stats = stats


def parse_target(value: str) -> tuple[str, int]:
    value = value.removeprefix("http://").rstrip("/")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve(args) -> None:
    loop = asyncio.get_running_loop()
    host, port = args.target
    stats = Stats(f"{host}:{port}", args.rtt_ms)
    proxy = Proxy(loop, args.target, args.rtt_ms, int(args.max_buffer_mb * 1024 * 1024), stats)
    server = await loop.create_server(lambda: ClientProtocol(proxy), "127.0.0.1", args.listen_port,
                                      backlog=1024, reuse_address=True)
    stop = asyncio.Event()

    def snapshot() -> None:
        try:
            stats.write(args.stats_file)
        except OSError as e:
            print(f"latencyproxy: cannot write {args.stats_file}: {e}", file=sys.stderr)

    def terminate() -> None:
        snapshot()
        stop.set()

    loop.add_signal_handler(signal.SIGUSR1, snapshot)
    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_signal_handler(signal.SIGINT, terminate)

    bound = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{bound}\n")
        os.replace(tmp, args.port_file)
    print(f"listening on {bound}", flush=True)
    await stop.wait()
    server.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", type=parse_target, required=True, help="HOST:PORT of the server (loopback)")
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="round trip to add: RTT/2 each way (default 0)")
    ap.add_argument("--listen-port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--port-file", help="write the port listened on here")
    ap.add_argument("--stats-file", help="write the counters here (JSON) on SIGUSR1, SIGTERM and SIGINT")
    ap.add_argument("--max-buffer-mb", type=float, default=64.0,
                    help="bytes held per direction and connection before reading pauses (default 64 MB)")
    args = ap.parse_args()
    if args.rtt_ms < 0:
        ap.error("--rtt-ms must be >= 0")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""scripts/latencyproxy.py (the far-away server of `scripts/bench/run latency`): bytes pass
through unchanged, each request pays its round trips, concurrent requests wait in parallel,
and the counters count what went through."""
from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from world_testkit import REPO

PROXY = REPO / "scripts" / "latencyproxy.py"
BODY = os.urandom(5 * 1024 * 1024)


class Handler(BaseHTTPRequestHandler):
    """GET /body (whole or one byte range), GET /small, POST /echo; HTTP/1.1 keep-alive."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status: int, payload: bytes, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path == "/small":
            return self._send(200, b"ok")
        if self.path != "/body":
            return self._send(404, b"")
        rng = self.headers.get("Range")
        if rng:
            first, last = (int(x) for x in rng.removeprefix("bytes=").split("-"))
            return self._send(206, BODY[first:last + 1],
                              {"Content-Range": f"bytes {first}-{last}/{len(BODY)}"})
        self._send(200, BODY)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self._send(200, self.rfile.read(n))


class Origin(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default (5) makes a burst of connections wait for SYN retries


@pytest.fixture(scope="module")
def origin():
    server = Origin(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def proxy(origin_port: int, rtt_ms: float, tmp_path: Path):
    port_file, stats_file = tmp_path / f"port-{rtt_ms}", tmp_path / f"stats-{rtt_ms}.json"
    p = subprocess.Popen([sys.executable, str(PROXY), "--listen-port", "0", "--port-file", str(port_file),
                          "--target", f"127.0.0.1:{origin_port}", "--rtt-ms", str(rtt_ms),
                          "--stats-file", str(stats_file)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 15
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert p.poll() is None, p.stderr.read()
            assert time.time() < deadline, "latencyproxy did not start"
            time.sleep(0.05)

        def stats() -> dict:
            before = json.loads(stats_file.read_text())["snapshot"] if stats_file.is_file() else 0
            p.send_signal(signal.SIGUSR1)
            deadline = time.time() + 10
            while True:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    s = json.loads(stats_file.read_text())
                    if s["snapshot"] > before:
                        return s
                assert time.time() < deadline, "no stats snapshot after SIGUSR1"
                time.sleep(0.02)

        yield int(port_file.read_text()), stats
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert p.returncode == 0, p.stderr.read()
    assert json.loads(stats_file.read_text())["snapshot"] >= 1  # written on SIGTERM too


def get(port: int, path: str, headers: dict | None = None, conn: http.client.HTTPConnection | None = None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    if conn is None:
        c.close()
    return r, body


def test_bytes_pass_through_unchanged(origin, tmp_path):
    with proxy(origin, 0, tmp_path) as (port, stats):
        r, body = get(port, "/body")
        assert r.status == 200
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(BODY).hexdigest()
        r, body = get(port, "/body", {"Range": "bytes=1000000-1065535"})
        assert r.status == 206 and r.getheader("Content-Range") == f"bytes 1000000-1065535/{len(BODY)}"
        assert body == BODY[1000000:1065536]
        # A request body (a STAC search is a POST) goes up intact, and is not mistaken for requests.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        payload = b"GET /not-a-request HTTP/1.1\r\n\r\n" * 1000
        c.request("POST", "/echo", body=payload)
        assert c.getresponse().read() == payload
        c.close()
        s = stats()
    assert s["requests"] == 3 and s["methods"] == {"GET": 2, "POST": 1}
    assert s["connections"] == 3
    assert s["bytes_to_client"] > len(BODY) + 65536 + len(payload)
    assert s["bytes_to_server"] > len(payload)


def test_each_request_pays_the_round_trips(origin, tmp_path):
    with proxy(origin, 200, tmp_path) as (port, stats):
        t = time.perf_counter()
        r, body = get(port, "/small")
        fresh = time.perf_counter() - t
        assert r.status == 200 and body == b"ok"
        # A new connection: the handshake's round trip, then the request's.
        assert 0.39 <= fresh < 2, fresh
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        get(port, "/small", conn=c)
        t = time.perf_counter()
        r, body = get(port, "/small", conn=c)  # kept alive: one round trip
        again = time.perf_counter() - t
        c.close()
        assert r.status == 200 and body == b"ok"
        assert 0.19 <= again < 2, again
        assert again < fresh - 0.1, (again, fresh)


def test_concurrent_requests_wait_in_parallel(origin, tmp_path):
    with proxy(origin, 200, tmp_path) as (port, stats):
        t = time.perf_counter()
        get(port, "/small")
        one = time.perf_counter() - t
        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            results = list(ex.map(lambda _: get(port, "/body", {"Range": "bytes=0-99999"}), range(10)))
        ten = time.perf_counter() - t
        assert all(r.status == 206 and body == BODY[:100000] for r, body in results)
        assert ten < 3 * one, (ten, one)
        s = stats()
    assert s["requests"] == 11 and s["connections"] == 11
    assert s["max_active_connections"] >= 2


def test_counts_requests_and_connections(origin, tmp_path):
    with proxy(origin, 20, tmp_path) as (port, stats):
        s0 = stats()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(5):
            get(port, "/small", conn=c)
        get(port, "/body", {"Range": "bytes=10-19"}, conn=c)
        c.close()
        get(port, "/small")
        # A client that goes away mid-response, and one that connects and says nothing.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/body")
        c.getresponse().read(10)
        c.close()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.connect()
        c.close()
        # A client that half-closes after its request still gets the whole response, then EOF.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        assert got.startswith(b"HTTP/1.") and got.endswith(b"\r\n\r\nok"), got
        time.sleep(0.3)
        s1 = stats()
        assert s1["requests"] - s0["requests"] == 9
        assert s1["connections"] - s0["connections"] == 5
        assert s1["methods"]["GET"] == 9
        assert s1["active_connections"] == 0
        # Snapshots reset nothing.
        s2 = stats()
        assert s2["requests"] == s1["requests"] and s2["snapshot"] == s1["snapshot"] + 1
        # The proxy still serves after the disconnects.
        r, body = get(port, "/small")
        assert r.status == 200 and body == b"ok"


def test_hundreds_of_connections_at_once(origin, tmp_path):
    with proxy(origin, 20, tmp_path) as (port, stats):
        conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(300)]
        for s in conns:
            s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in conns:
            got = b""
            while chunk := s.recv(65536):
                got += chunk
            s.close()
            assert got.endswith(b"\r\n\r\nok"), got
        time.sleep(0.2)
        s = stats()
    assert s["requests"] == 300 and s["connections"] == 300
    assert s["max_active_connections"] >= 100 and s["active_connections"] == 0

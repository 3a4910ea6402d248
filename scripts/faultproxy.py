#!/usr/bin/env python3
"""A small fault-injecting HTTP proxy for tests (loopback only): forwards every request to
--target and, deterministically by request number, answers instead with an error status
(optionally with Retry-After), drops the connection, or delays the response.

    faultproxy.py --port 0 --target http://127.0.0.1:9000 [--fail-every 7 --status 503 ...]
                  [--fail-first N] [--retry-after 0] [--drop-every 0] [--delay-every 0 --delay 0.5]
                  [--only-methods PUT,POST] [--port-file F]

Prints "listening on PORT" (and writes it to --port-file). Counts go to stderr on exit.
"""
from __future__ import annotations

import argparse
import http.client
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade"}


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0
        self.injected = {"status": 0, "drop": 0, "delay": 0}

    def next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


def make_handler(args, counter: Counter):
    target = urlsplit(args.target)
    methods = {m.strip().upper() for m in args.only_methods.split(",") if m.strip()} if args.only_methods else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _handle(self) -> None:
            body = self._body()
            eligible = methods is None or self.command in methods
            i = counter.next() if eligible else 0
            if eligible and args.drop_every and i % args.drop_every == 0:
                counter.injected["drop"] += 1
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            if eligible and ((args.fail_every and i % args.fail_every == 0) or i <= args.fail_first):
                counter.injected["status"] += 1
                payload = (f"<?xml version=\"1.0\"?><Error><Code>{'SlowDown' if args.status == 503 else 'InternalError'}"
                           f"</Code><Message>injected by faultproxy</Message></Error>").encode()
                self.send_response(args.status)
                if args.retry_after is not None:
                    self.send_header("Retry-After", str(args.retry_after))
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Content-Type", "application/xml")
                self.end_headers()
                self.wfile.write(payload)
                return
            if eligible and args.delay_every and i % args.delay_every == 0:
                counter.injected["delay"] += 1
                time.sleep(args.delay)
            conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            try:
                conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                             headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as e:
                self.send_error(502, f"upstream: {e}")
                return
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            # A HEAD answer carries the length of the body a GET would return.
            length = resp.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length if length is not None else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--target", required=True)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0, help="also fail requests 1..N")
    ap.add_argument("--status", type=int, default=503)
    ap.add_argument("--retry-after", type=int)
    ap.add_argument("--drop-every", type=int, default=0)
    ap.add_argument("--delay-every", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--only-methods", default="")
    ap.add_argument("--port-file")
    args = ap.parse_args()
    counter = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args, counter))
    server.daemon_threads = True
    port = server.server_address[1]
    print(f"listening on {port}", flush=True)
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))

    def stop(*_):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    print(f"faultproxy: {counter.n} requests, injected {counter.injected}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A tiny local HTTP server for the StacSearch/HTTPClient tests (127.0.0.1 only).

Usage: fake_stac_server.py PORT_FILE [ITEMS_JSON]
Binds a free port, writes it to PORT_FILE, serves until killed.

Routes
  /flaky/<key>?n=N[&date=1]  503 with Retry-After (1 s, or an HTTP date) N times per key, then 200 "ok"
  /bad                       400 with a long body; must not be retried
  /_stats                    JSON {path: request count}
  /post/search               POST only; pages of ITEMS_JSON (no server-side filtering), next = POST token + merge
  /getonly/search            POST -> 405; GET pages, next = GET URL with token
  /loop/search               POST; always the first page with the same next token
  /hostile/search            POST; next link points at another host
"""
import json
import os
import sys
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import time
from urllib.parse import parse_qs, urlparse

ITEMS = []
COUNTS = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection reuse is exercised

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def count(self, path):
        with LOCK:
            COUNTS[path] = COUNTS.get(path, 0) + 1
            return COUNTS[path]

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}") if n else {}

    def base(self):
        return f"http://{self.headers['Host']}"

    def page(self, body, offset, next_link):
        limit = int(body.get("limit", 10))
        feats = ITEMS[offset:offset + limit]
        links = []
        if offset + limit < len(ITEMS):
            links.append(next_link(offset + limit))
        return json.dumps({"type": "FeatureCollection", "features": feats, "links": links})

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        n = self.count(url.path)
        if url.path == "/_stats":
            with LOCK:
                return self.send(200, json.dumps(COUNTS))
        if url.path.startswith("/flaky/"):
            fails = int(q.get("n", ["0"])[0])
            if n <= fails:
                after = formatdate(time() + 2, usegmt=True) if "date" in q else "1"
                return self.send(503, "busy, try later", "text/plain", [("Retry-After", after)])
            return self.send(200, "ok", "text/plain")
        if url.path == "/bad":
            return self.send(400, "invalid bbox: " + "x" * 500, "text/plain")
        if url.path == "/getonly/search":
            for key in ("collections", "datetime", "limit", "bbox"):
                if key not in q:
                    return self.send(400, f"missing {key}", "text/plain")
            offset = int(q.get("token", ["0"])[0])
            body = {"limit": int(q["limit"][0])}
            base_query = "&".join(p for p in url.query.split("&") if not p.startswith("token="))
            return self.send(200, self.page(body, offset, lambda o: {
                "rel": "next", "href": f"/getonly/search?{base_query}&token={o}"}))
        self.send(404, "not found", "text/plain")

    def do_POST(self):
        url = urlparse(self.path)
        self.count(url.path)
        body = self.read_body()
        if url.path == "/getonly/search":
            return self.send(405, "method not allowed", "text/plain")
        if url.path in ("/post/search", "/loop/search", "/hostile/search"):
            # A merged next body must still carry the original query.
            for key in ("collections", "datetime", "limit"):
                if key not in body:
                    return self.send(400, f"missing {key}", "text/plain")
            offset = int(body.get("token", 0))
            if url.path == "/loop/search":
                offset = 0
            host = "http://evil.example:9" if url.path == "/hostile/search" else self.base()
            return self.send(200, self.page(body, offset, lambda o: {
                "rel": "next", "href": f"{host}{url.path}", "method": "POST",
                "body": {"token": str(o if url.path != "/loop/search" else 1)}, "merge": True}))
        self.send(404, "not found", "text/plain")


def main():
    port_file = sys.argv[1]
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            ITEMS.extend(json.load(f)["features"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    # Never outlive a crashed test run by more than two minutes.
    threading.Timer(120, lambda: os._exit(0)).start()
    server.serve_forever()


if __name__ == "__main__":
    main()

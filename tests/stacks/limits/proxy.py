"""A rate-limiting reverse proxy built on the `limits` library's moving window, in front of
the tollgate reference server (run with no rate limits). Started by tests/real_stacks.rs.

    python proxy.py --port P --backend http://127.0.0.1:B [--key api-key|ip] [--scope class|app]

Conformant: `MovingWindowRateLimiter` over `MemoryStorage`, one limit per published rate
class and API key (X-API-KEY, or the token of `Authorization: Bearer`); every answer of a
limited class carries X-RateLimit-Limit/-Remaining/-Reset from `get_window_stats` as
slowapi and Flask-Limiter send them (Reset: the epoch second the window frees a slot), and
every 429 a JSON `{"error": ...}` body with Retry-After (whole seconds until that moment).

The misconfigurations teams ship: `--key ip` (slowapi's `get_remote_address` default: every
key behind one address shares a bucket) and `--scope app` (one default limit for the whole
app: every class charges the same 100/s bucket).
"""

import argparse
import http.client
import json
import math
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# The published limits of tollgate.yaml, per key, per class.
CLASSES = {
    "read": parse("100/second"),
    "write": parse("100/second"),
    "files_read": parse("20/second"),
    "files_write": parse("20/second"),
    "search": parse("20/second"),
}
APP_WIDE = parse("100/second")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding"}
BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)

limiter = MovingWindowRateLimiter(MemoryStorage())


def class_of(method, path):
    """The same classes as the reference server: GET/HEAD read, anything else writes."""
    reads = method in ("GET", "HEAD")
    if path == "/v1/search":
        return "search"
    if path == "/v1/files" or path.startswith("/v1/files/"):
        return "files_read" if reads else "files_write"
    if path == "/v1/users" or path.startswith("/v1/users/"):
        return "read" if reads else "write"
    return None


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    backend = None
    key_by = "api-key"
    scope = "class"
    local = threading.local()

    def log_message(self, *args):
        pass

    def api_key(self):
        key = self.headers.get("X-API-KEY")
        if key:
            return key
        match = BEARER.match(self.headers.get("Authorization", ""))
        return match.group(1) if match else None

    def upstream(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.backend.hostname, self.backend.port, timeout=30)
            self.local.connection = connection
        return connection

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = urllib.parse.urlsplit(self.path).path
        cls = class_of(self.command, path)
        key = self.api_key()
        rate = []
        if cls and key:
            item, bucket = (APP_WIDE, "app") if self.scope == "app" else (CLASSES[cls], cls)
            who = self.client_address[0] if self.key_by == "ip" else key
            allowed = limiter.hit(item, bucket, who)
            stats = limiter.get_window_stats(item, bucket, who)
            # The stats are read after the hit: on a 429 the oldest entry may have expired in
            # between, and "1 remaining" on a rejection would be a lie.
            remaining = stats.remaining if allowed else 0
            rate = [
                ("X-RateLimit-Limit", str(item.amount)),
                ("X-RateLimit-Remaining", str(remaining)),
                ("X-RateLimit-Reset", str(math.ceil(stats.reset_time))),
            ]
            if not allowed:
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                message = f"Too many requests: the {bucket} limit is {item.amount} per second."
                self.answer(429, [("Content-Type", "application/json"), ("Retry-After", str(wait))] + rate,
                            json.dumps({"error": message}).encode())
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = self.backend.netloc
        for attempt in range(2):
            connection = self.upstream()
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                self.local.connection = None
                if attempt == 1:
                    self.answer(502, [("Content-Type", "application/json")], b'{"error":"Bad gateway."}')
                    return
        passed = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}]
        self.answer(response.status, passed + rate, data)

    def answer(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--key", choices=["api-key", "ip"], default="api-key")
    parser.add_argument("--scope", choices=["class", "app"], default="class")
    args = parser.parse_args()
    Proxy.backend = urllib.parse.urlsplit(args.backend)
    Proxy.key_by = args.key
    Proxy.scope = args.scope
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

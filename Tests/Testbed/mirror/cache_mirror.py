#!/usr/bin/env python3
"""A loopback mirror of the stub catalog, for `labctl cache fill --mirror` in tests.

GET /HOST/PATH answers with what the guests' curl stub serves for https://HOST/PATH
(`labctl-stub --artifact`), and 404 for a URL outside the catalog. It honours a single
`Range: bytes=N-` (206 + Content-Range, RFC 9110 §14), so a resumed fill can be observed, and
logs every request as a JSON line: {"path", "range", "status", "bytes"}.

Usage: cache_mirror.py PORTFILE LOGFILE   (binds 127.0.0.1 on a free port and writes it to PORTFILE)
Set CACHE_MIRROR_NO_RANGE=1 to ignore Range as python's http.server does (curl then exits 33).
Set CACHE_MIRROR_TRUNCATE=URL-SUFFIX to cut that file's first answer in half and close (an interrupted fill).
"""
import http.server
import json
import os
import re
import subprocess
import sys
import threading

import loopback  # noqa: E402  (next to this file: the script's directory is on sys.path)

STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stubs", "labctl-stub")
BODIES = {}
TRUNCATED = set()
LOCK = threading.Lock()


def body(url):
    with LOCK:
        if url not in BODIES:
            r = subprocess.run([sys.executable, STUB, "--artifact", url], capture_output=True)
            BODIES[url] = r.stdout if r.returncode == 0 else None
        return BODIES[url]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def log(self, status, sent, rng):
        with LOCK, open(sys.argv[2], "a") as f:
            f.write(json.dumps({"path": self.path, "range": rng, "status": status, "bytes": sent}) + "\n")

    def do_GET(self):
        data = body("https://" + self.path.lstrip("/"))
        rng = self.headers.get("Range")
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"Not Found")
            self.log(404, 0, rng)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not os.environ.get("CACHE_MIRROR_NO_RANGE"):
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.log(416, 0, rng)
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        part = data[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        cut = os.environ.get("CACHE_MIRROR_TRUNCATE")
        if cut and self.path.endswith(cut) and self.path not in TRUNCATED:
            TRUNCATED.add(self.path)
            part = part[: len(part) // 2]
            self.wfile.write(part)
            self.wfile.flush()
            self.log(200, len(part), rng)
            self.close_connection = True
            return
        self.wfile.write(part)
        self.log(206 if start else 200, len(part), rng)


loopback.serve(Handler, sys.argv[1])

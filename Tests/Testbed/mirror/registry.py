#!/usr/bin/env python3
"""A loopback registry double that serves the stand-in images (Tests/Testbed/stubs/images.py), for
`labctl cache fill --registry-mirror` in tests. Real HTTP on 127.0.0.1 only.

It answers as a registry mirror in containerd's convention (containerd/containerd@v2.3.4:docs/hosts.md):
GET /v2/<repository>/manifests/<tag|digest>?ns=<registry> and /v2/<repository>/blobs/<digest>?ns=<registry>,
and refuses what a real registry refuses:
- docker.io repositories without a token: 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
  (distribution/distribution@v2.8.3:docs/spec/auth/token.md); GET /token?service=&scope= gives an anonymous
  token ({"token", "access_token", "expires_in", "issued_at"}, same file) for that scope only;
- an unknown repository, tag or blob: 404 with the JSON error body {"errors": [{"code", "message", "detail"}]}
  and NAME_UNKNOWN / MANIFEST_UNKNOWN / BLOB_UNKNOWN (docs/spec/api.md, "Errors";
  opencontainers/distribution-spec@v1.1.0:spec.md, "Error Codes");
- a manifest the Accept header does not allow: an OCI index or OCI manifest is 404 MANIFEST_UNKNOWN ("OCI
  index found, but accept header does not support OCI indexes"); a Docker manifest list asked by tag without
  its type is replaced by its linux/amd64 manifest when Docker schema 2 is accepted
  (distribution/distribution@v2.8.3:registry/handlers/manifests.go). The real registry would then rewrite to
  schema 1 when even schema 2 is not accepted; the double answers MANIFEST_UNKNOWN instead (labctl never asks
  for schema 1);
- manifests carry `Docker-Content-Digest` and their Content-Type; blobs honour a single `Range: bytes=N-`
  (206 + Content-Range), as docs/spec/api.md "Pulling a Layer" asks.

Every request is logged as a JSON line: {"method", "path", "status", "bytes", "range", "auth"}.
Usage: registry.py PORTFILE LOGFILE
Set REGISTRY_TRUNCATE=HEX-PREFIX to cut the first answer for that blob in half and close (an interrupted fill).
"""
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stubs"))
import images  # noqa: E402
import loopback  # noqa: E402  (next to this file: the script's directory is on sys.path)

LOCK = threading.Lock()
TRUNCATED = set()
INDEX_TYPES = {images.MEDIA["oci"]["index"], images.MEDIA["docker"]["index"]}


def token_for(scope):
    return "anon-" + hashlib.sha256(scope.encode()).hexdigest()[:32]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self, status, sent):
        with LOCK, open(sys.argv[2], "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "status": status, "bytes": sent,
                                "range": self.headers.get("Range"), "auth": bool(self.headers.get("Authorization"))}) + "\n")

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.log(status, len(body))

    def error(self, status, code, message, detail=None, headers=None):
        body = json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()
        self.reply(status, body, dict({"Content-Type": "application/json"}, **(headers or {})))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/token":
            scope = (query.get("scope") or [""])[0]
            if (query.get("service") or [""])[0] != "registry.docker.io" or not re.fullmatch(r"repository:[a-z0-9._/-]+:pull", scope):
                return self.error(400, "DENIED", "unknown service or scope")
            t = token_for(scope)
            body = json.dumps({"token": t, "access_token": t, "expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"}).encode()
            return self.reply(200, body, {"Content-Type": "application/json"})
        if url.path == "/v2/":
            return self.reply(200, b"{}", {"Content-Type": "application/json"})
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", url.path)
        ns = (query.get("ns") or [None])[0]
        if not m or not ns:
            return self.error(404, "NAME_UNKNOWN", "repository name not known to registry", {"path": url.path})
        repository, kind, ref = m.groups()
        name = ns + "/" + repository
        if ns == "docker.io":
            scope = "repository:%s:pull" % repository
            if self.headers.get("Authorization") != "Bearer " + token_for(scope):
                host = "127.0.0.1:%d" % self.server.server_address[1]
                challenge = 'Bearer realm="http://%s/token",service="registry.docker.io",scope="%s"' % (host, scope)
                return self.error(401, "UNAUTHORIZED", "authentication required",
                                  [{"Type": "repository", "Name": repository, "Action": "pull"}], {"WWW-Authenticate": challenge})
        refs = [e["ref"] for e in images.catalog() if e["ref"].rsplit(":", 1)[0] == name]
        if not refs:
            return self.error(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": repository})
        if kind == "blobs":
            return self.blob(name, ref)
        return self.manifest(name, ref, refs)

    def manifest(self, name, ref, refs):
        accept = {a.split(";")[0].strip() for h in self.headers.get_all("Accept", []) for a in h.split(",")}
        if ref.startswith("sha256:"):
            body = images.blob(name, ref)
            media = json.loads(body).get("mediaType") if body and body.startswith(b"{") else None
            if body is None or media is None:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"digest": ref})
        else:
            full = name + ":" + ref
            if full not in refs:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref})
            body, media = images.index(full)
            fmt = "oci" if media == images.MEDIA["oci"]["index"] else "docker"
            if media not in accept:
                docker_manifest = images.MEDIA["docker"]["manifest"]
                if fmt == "docker" and docker_manifest in accept:
                    img = images.image(full, "linux/amd64")
                    body, media = img["manifest"], img["manifest_media_type"]
                elif fmt == "oci":
                    return self.error(404, "MANIFEST_UNKNOWN", "OCI index found, but accept header does not support OCI indexes")
                else:
                    return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        if media == images.MEDIA["oci"]["manifest"] and media not in accept:
            return self.error(404, "MANIFEST_UNKNOWN", "OCI manifest found, but accept header does not support OCI manifests")
        if media in INDEX_TYPES and media not in accept and ref.startswith("sha256:"):
            return self.error(404, "MANIFEST_UNKNOWN", "OCI index found, but accept header does not support OCI indexes")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.reply(200, body, {"Content-Type": media, "Docker-Content-Digest": digest})

    def blob(self, name, digest):
        data = images.blob(name, digest)
        if data is None:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest, "Accept-Ranges": "bytes"}
        if rng:
            start = int(rng.group(1))
            if start >= len(data):
                return self.reply(416, b"", {"Content-Range": "bytes */%d" % len(data)})
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        part = data[start:]
        cut = os.environ.get("REGISTRY_TRUNCATE")
        if cut and digest.startswith("sha256:" + cut) and digest not in TRUNCATED:
            TRUNCATED.add(digest)
            self.send_response(206 if start else 200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.log(206 if start else 200, len(part) // 2)
            self.close_connection = True
            return
        self.reply(206 if start else 200, part, headers)


loopback.serve(Handler, sys.argv[1])

#!/usr/bin/env python3
"""A fake SearXNG and a static page server on loopback, for the search and
visit tests.  Python standard library only.

usage: fake_searxng.py [--answers FILE.json] [--pages DIR]... [--lifetime S]

Prints the port it listens on (127.0.0.1, chosen by the system) on the first
line of stdout, then serves until stdin reaches EOF or --lifetime seconds
(default 120) have passed.

GET /search?q=Q&format=json[&categories=science]
    The answers file maps a key to a list of responses: the key is Q, or
    "Q|science" for the science category.  Each request takes the next
    response of its list; the last one repeats.  A response is
    {"status": N, "headers": {...}, "json": {...}} or {..., "body": "text"}.
    Without format=json the answer is 403, as SearXNG gives when json is not
    in search.formats.  A key the file does not have answers 200 with no
    results.
GET /pages/NAME
    The file NAME from the first --pages directory that has it; the type by
    extension (.html: text/html; charset=utf-8, .txt: text/plain, .pdf,
    .png, .bin); NAME ending in .latin1.html is served as
    text/html; charset=ISO-8859-1.  Missing: 404.
GET /status/N     an empty answer with status N.
GET /__hits       the requests seen so far: {"PATH?QUERY": count, ...}.
Anything else: 404 (so /robots.txt is absent and everything is allowed).
"""
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".bin": "application/octet-stream",
}


def main():
    args = sys.argv[1:]
    answers, pages, lifetime = {}, [], 120.0
    while args:
        opt = args.pop(0)
        if opt == "--answers":
            with open(args.pop(0), encoding="utf-8") as f:
                answers = json.load(f)
        elif opt == "--pages":
            pages.append(args.pop(0))
        elif opt == "--lifetime":
            lifetime = float(args.pop(0))
        else:
            sys.exit("fake_searxng.py: unknown option " + opt)
    hits, taken, lock = {}, {}, threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, status, body=b"", ctype="text/plain; charset=utf-8", headers=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            with lock:
                key = url.path + ("?" + url.query if url.query else "")
                hits[key] = hits.get(key, 0) + 1
            if url.path == "/__hits":
                with lock:
                    body = json.dumps(hits).encode()
                return self.send(200, body, "application/json")
            if url.path == "/search":
                return self.search(urllib.parse.parse_qs(url.query))
            if url.path.startswith("/status/"):
                return self.send(int(url.path[8:]))
            if url.path.startswith("/pages/"):
                name = urllib.parse.unquote(url.path[7:])
                if "/" in name or name.startswith("."):
                    return self.send(404, b"not found")
                for d in pages:
                    p = os.path.join(d, name)
                    if os.path.isfile(p):
                        with open(p, "rb") as f:
                            body = f.read()
                        ext = os.path.splitext(name)[1]
                        ctype = TYPES.get(ext, "application/octet-stream")
                        if name.endswith(".latin1.html"):
                            ctype = "text/html; charset=ISO-8859-1"
                        return self.send(200, body, ctype)
            return self.send(404, b"not found")

        def search(self, qs):
            if qs.get("format") != ["json"]:
                return self.send(403, b"Forbidden")
            q = qs.get("q", [""])[0]
            if qs.get("categories") == ["science"]:
                q += "|science"
            with lock:
                seq = answers.get(q)
                if seq is None:
                    resp = {"json": {"query": q, "number_of_results": 0, "results": [],
                                     "answers": [], "corrections": [], "infoboxes": [],
                                     "suggestions": [], "unresponsive_engines": []}}
                else:
                    i = taken.get(q, 0)
                    taken[q] = i + 1
                    resp = seq[min(i, len(seq) - 1)]
            if "json" in resp:
                body = json.dumps(resp["json"], ensure_ascii=False).encode()
                ctype = "application/json"
            else:
                body = resp.get("body", "").encode()
                ctype = "text/html; charset=utf-8"
            self.send(resp.get("status", 200), body, ctype, resp.get("headers"))

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    done = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(lifetime)
    srv.shutdown()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A loopback stand-in for SearXNG and a small web site, or a trap that only
counts connections.  Python standard library only.

    webfake.py serve COUNTFILE   SearXNG's JSON API at /search, /robots.txt
                                 and the pages below
    webfake.py trap COUNTFILE [PORT]
                                 accept and close; PORT 0 or absent = any

Listens on 127.0.0.1, prints the port on a line of its own once it is
ready, writes the number of connections accepted so far to COUNTFILE after
each one, and exits when its standard input closes (or after 120 s)."""

import http.server
import json
import os
import socket
import sys
import threading
import urllib.parse

PAGES = {
    "/kessel.html": (
        "text/html; charset=utf-8",
        "<!doctype html><html><head><title>Kessel on the Maasbeek</title></head><body>"
        "<h1>Kessel</h1><p>Kessel is a small town on the river Maasbeek, "
        "known for its lighthouse museum.</p></body></html>",
    ),
    "/verhoeven.html": (
        "text/html; charset=utf-8",
        "<!doctype html><html><head><title>Ada Verhoeven</title></head><body>"
        "<h1>Ada Verhoeven</h1><p>Ada Verhoeven, lighthouse keeper, was born in Kessel "
        "in 1881.</p></body></html>",
    ),
}

count = 0
lock = threading.Lock()


def bump(path):
    global count
    with lock:
        count += 1
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % count)
        os.replace(tmp, path)


def results(base, query):
    q = query.lower()
    hits = []
    if "verhoeven" in q:
        hits.append({"url": base + "/verhoeven.html", "title": "Ada Verhoeven",
                     "content": "Ada Verhoeven, lighthouse keeper, was born in Kessel in 1881.",
                     "engine": "fake"})
    if "kessel" in q:
        hits.append({"url": base + "/kessel.html", "title": "Kessel on the Maasbeek",
                     "content": "Kessel is a small town on the river Maasbeek.",
                     "engine": "fake"})
    return {"query": query, "number_of_results": len(hits), "results": hits, "answers": [],
            "corrections": [], "infoboxes": [], "suggestions": [], "unresponsive_engines": []}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, ctype, body):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        base = "http://127.0.0.1:%d" % self.server.server_address[1]
        if url.path == "/search":
            q = urllib.parse.parse_qs(url.query).get("q", [""])[0]
            self.send(200, "application/json", json.dumps(results(base, q)))
        elif url.path == "/robots.txt":
            self.send(200, "text/plain", "User-agent: *\nAllow: /\n")
        elif url.path in PAGES:
            self.send(200, *PAGES[url.path])
        else:
            self.send(404, "text/plain", "not found\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        conn = super().get_request()
        bump(self.countfile)
        return conn


def trap(countfile, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    print(s.getsockname()[1], flush=True)

    def loop():
        while True:
            c, _ = s.accept()
            bump(countfile)
            c.close()
    threading.Thread(target=loop, daemon=True).start()


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("serve", "trap"):
        sys.exit(__doc__)
    countfile = sys.argv[2]
    with open(countfile, "w") as f:
        f.write("0\n")
    if sys.argv[1] == "trap":
        trap(countfile, int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        srv = Server(("127.0.0.1", 0), Handler)
        srv.countfile = countfile
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        print(srv.server_address[1], flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(120)


if __name__ == "__main__":
    main()

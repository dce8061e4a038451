#!/usr/bin/env python3
"""Hostile web servers for the fetch tests (python3 standard library only).

usage: hostile.py [--pki DIR] [--bind ADDR] [--deadline SECONDS] [--workdir DIR]
       hostile.py --routes

Listeners (each on a free port; printed as "NAME PORT" lines, then "ready"):
  http             the routes below, on --bind (default 127.0.0.1)
  guard            127.0.0.1 only; every request is counted.  A client with the
                   address guard on must never connect here: /_stats shows 0.
  https-good       TLS with DIR/good.crt (localhost, 127.0.0.1, ::1; CA DIR/ca.crt)
  https-wronghost  TLS with a certificate for wrong.example only
  https-expired    TLS with a certificate that expired in January 2020
  https-unknown    TLS with a certificate from a CA the client does not know
The https listeners need --pki DIR (made by pki.sh) and serve /ok, /robots.txt
and /_stats; the others answer 404.

Routes of the http listener (GET; every response closes the connection):
  /ok                 a small HTML page
  ?repeat=N           (on /ok, /chain/0, /invalid-utf8 and the charset pages) the
                      page's text N times, to make a page long enough to read
  /big                50 MiB of HTML, chunked
  /huge-length        Content-Length: 10000000000, then HTML until the client leaves
  /drip               Content-Length: 1000, one byte a second
  /slow-headers       a header line every 0.5 s, never a blank line
  /big-headers        1 MiB of header lines, then a small body
  /bomb-gzip          200 MiB of zeros, Content-Encoding: gzip (~200 KB sent)
  /bomb-br            the same as brotli (needs the brotli command; else 404)
  /bomb-zstd          the same as zstd (needs the zstd command; else 404)
  /chunked-bad        Transfer-Encoding: chunked with a chunk size that is not hex
  /binary             4 KiB of binary bytes (NULs included) labelled text/html
  /invalid-utf8       text/html; charset=utf-8 with bytes that are not UTF-8
  /cp1252             windows-1252 bytes, labelled windows-1252
  /cp1252-as-utf8     windows-1252 bytes, labelled utf-8 (mislabelled)
  /cp1252-meta        windows-1252 bytes, no charset header, <meta charset>
  /gb18030            GB18030 bytes, labelled gb18030
  /gb18030-meta       GB18030 bytes, charset only in <meta>
  /sjis               Shift_JIS bytes, labelled shift_jis
  /sjis-meta          Shift_JIS bytes, charset only in <meta>
  /base-href          a page with <base href> and relative links
  /js-only            an HTML page whose only content is a script
  /loop               302 to itself
  /chain/N            302 to /chain/N-1 ... /chain/0 is a 200 page (N redirects)
  /to-file            302 to file:///etc/passwd
  /to-gopher          302 to gopher://127.0.0.1:PORT/
  /to-guard           302 to http://127.0.0.1:GUARDPORT/secret
  /to-guard-localhost 302 to http://localhost:GUARDPORT/secret
  /404 /500           those statuses with a small HTML body
  /429?after=N        429 with Retry-After: N
  /429-once?k=KEY     429 with Retry-After: 1 the first time for KEY, then 200
  /503-long           503 with Retry-After: 120
  /empty-reply        closes the connection without a response
  /robots.txt         User-agent: * / Disallow: /private/
  /private/...        200 (a client obeying robots.txt never asks)
  /echo-ua            the request's User-Agent and Accept-Encoding as text/plain
  /_stats             JSON: {"listeners": {name: connections}, "routes": {path: requests}}
The http listener also answers proxy requests ("GET http://any.host/ROUTE"):
it serves its own ROUTE whatever the host, so a client can use it as its
proxy for names that resolve nowhere.
The server exits on end of input on stdin, or after --deadline seconds
(default 300).
"""
import json
import os
import random
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zlib

BOMB_BYTES = 200 * 1024 * 1024
BIG_BYTES = 50 * 1024 * 1024

lock = threading.Lock()
conn_counts = {}
route_counts = {}
once_keys = set()
ports = {}
bombs = {}


def count(table, key):
    with lock:
        table[key] = table.get(key, 0) + 1


def make_bombs(workdir):
    """200 MiB of zeros as gzip (zlib), brotli and zstd (their commands)."""
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [c.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    parts.append(c.flush())
    bombs["gzip"] = b"".join(parts)
    for enc, cmd in (("br", ["brotli", "-c", "-q", "5"]), ("zstd", ["zstd", "-q", "-c", "-3"])):
        if not shutil.which(cmd[0]):
            continue
        out = os.path.join(workdir, "bomb." + enc)
        with open(out, "wb") as f:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=f)
            for _ in range(BOMB_BYTES >> 20):
                p.stdin.write(zeros)
            p.stdin.close()
            if p.wait() != 0:
                continue
        with open(out, "rb") as f:
            bombs[enc] = f.read()


def page(title, body):
    return ("<!DOCTYPE html><html><head><title>%s</title></head><body>%s</body></html>"
            % (title, body)).encode("utf-8")


CP1252_TEXT = "Caf\u00e9 \u201cquoted\u201d \u2014 na\u00efve \u20ac5"
GB_TEXT = "\u4e2d\u6587\u7f51\u9875\uff1a\u5317\u4eac\u7684\u5929\u6c14"
SJIS_TEXT = "\u65e5\u672c\u8a9e\u306e\u30da\u30fc\u30b8\u3067\u3059"


def charset_page(text, enc, meta, repeat=1):
    head = '<meta charset="%s">' % meta if meta else ""
    html = "<html><head>%s<title>t</title></head><body>%s</body></html>" % (
        head, "".join("<p>%s</p>" % text for _ in range(repeat)))
    return html.encode(enc)


class Conn:
    """A response writer over a socket; methods raise on a gone client."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        self.sock.sendall(data)

    def respond(self, status, reason, body=b"", ctype="text/html; charset=utf-8", extra=()):
        head = ["HTTP/1.1 %d %s" % (status, reason), "Connection: close"]
        if ctype:
            head.append("Content-Type: " + ctype)
        head.extend(extra)
        head.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def redirect(self, location):
        self.respond(302, "Found", page("moved", "moved"), extra=("Location: " + location,))


def read_request(sock):
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None, {}
        data += chunk
        if len(data) > 65536:
            return None, {}
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = head[0].split(" ")
    if len(parts) < 2:
        return None, {}
    if parts[1].startswith("http://"):  # a proxy request: serve our own route
        parts[1] = "/" + parts[1][7:].partition("/")[2]
    headers = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return parts[1], headers


def route_http(c, target, headers):
    path, _, query = target.partition("?")
    q = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
    try:  # ?repeat=N: the text of the small pages N times (a page long enough to read)
        rep = max(1, min(1000, int(q.get("repeat", "1"))))
    except ValueError:
        rep = 1
    if path == "/ok":
        c.respond(200, "OK", page("ok", "<p>hello from the test server</p>" * rep))
    elif path == "/big":
        c.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        line = b"<p>" + b"all work and no play makes a big page " * 40 + b"</p>\n"
        chunk = (line * (65536 // len(line) + 1))[:65536]
        for _ in range(BIG_BYTES // len(chunk)):
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
    elif path == "/huge-length":
        c.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\n"
               b"Content-Length: 10000000000\r\n\r\n")
        chunk = b"<p>" + b"x" * 65530 + b"</p>"
        sent = 0
        while sent < 200 * 1024 * 1024:  # the client leaves long before
            c.send(chunk)
            sent += len(chunk)
    elif path == "/drip":
        c.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\n"
               b"Content-Length: 1000\r\n\r\n")
        for _ in range(1000):
            c.send(b"x")
            time.sleep(1)
    elif path == "/slow-headers":
        c.send(b"HTTP/1.1 200 OK\r\n")
        for i in range(100000):
            c.send(b"X-Drip-%d: still coming\r\n" % i)
            time.sleep(0.5)
    elif path == "/big-headers":
        lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"h" * 1000) for i in range(1024))
        c.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\n" + lines +
               b"Content-Length: 2\r\n\r\nok")
    elif path.startswith("/bomb-"):
        enc = {"gzip": "gzip", "br": "br", "zstd": "zstd"}.get(path[6:])
        if enc not in bombs:
            c.respond(404, "Not Found", page("no bomb", "this encoder is not installed"))
            return
        c.respond(200, "OK", bombs[enc], extra=("Content-Encoding: " + enc,))
    elif path == "/chunked-bad":
        c.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbroken\r\n0\r\n\r\n")
    elif path == "/binary":
        rnd = random.Random(42)
        body = bytes(rnd.randrange(256) for _ in range(4096))
        body = b"\x00\x01\x02PK" + body
        c.respond(200, "OK", body, ctype="text/html")
    elif path == "/invalid-utf8":
        c.respond(200, "OK", b"<html><body>" + b"<p>bad \xc3\x28 bytes \xff\xfe and \xed\xa0\x80 here</p>" * rep
                  + b"</body></html>")
    elif path == "/cp1252":
        c.respond(200, "OK", charset_page(CP1252_TEXT, "cp1252", None, rep),
                  ctype="text/html; charset=windows-1252")
    elif path == "/cp1252-as-utf8":
        c.respond(200, "OK", charset_page(CP1252_TEXT, "cp1252", None, rep),
                  ctype="text/html; charset=utf-8")
    elif path == "/cp1252-meta":
        c.respond(200, "OK", charset_page(CP1252_TEXT, "cp1252", "windows-1252", rep), ctype="text/html")
    elif path == "/gb18030":
        c.respond(200, "OK", charset_page(GB_TEXT, "gb18030", None, rep), ctype="text/html; charset=gb18030")
    elif path == "/gb18030-meta":
        c.respond(200, "OK", charset_page(GB_TEXT, "gb18030", "gb18030", rep), ctype="text/html")
    elif path == "/sjis":
        c.respond(200, "OK", charset_page(SJIS_TEXT, "shift_jis", None, rep),
                  ctype="text/html; charset=shift_jis")
    elif path == "/sjis-meta":
        c.respond(200, "OK", charset_page(SJIS_TEXT, "shift_jis", "shift_jis", rep), ctype="text/html")
    elif path == "/base-href":
        c.respond(200, "OK", page("base", '<base href="/docs/"><a href="a.html">A</a> '
                                  '<a href="/b.html">B</a><p>a page with a base element and two links, '
                                  'long enough to count as a page of text for the reader.</p>'))
    elif path == "/js-only":
        c.respond(200, "OK", b"<!DOCTYPE html><html><head><script>document.write('hi')</script>"
                  b"</head><body><div id=\"root\"></div><script src=\"/app.js\"></script></body></html>")
    elif path == "/loop":
        c.redirect("/loop")
    elif path.startswith("/chain/"):
        try:
            n = int(path[7:])
        except ValueError:
            n = 0
        if n <= 0:
            c.respond(200, "OK", page("end", "<p>end of the chain</p>" * rep))
        else:
            c.redirect("/chain/%d%s" % (n - 1, "?" + query if query else ""))
    elif path == "/to-file":
        c.redirect("file:///etc/passwd")
    elif path == "/to-gopher":
        c.redirect("gopher://127.0.0.1:%d/" % ports["http"])
    elif path == "/to-guard":
        c.redirect("http://127.0.0.1:%d/secret" % ports["guard"])
    elif path == "/to-guard-localhost":
        c.redirect("http://localhost:%d/secret" % ports["guard"])
    elif path == "/404":
        c.respond(404, "Not Found", page("404", "no such page"))
    elif path == "/500":
        c.respond(500, "Internal Server Error", page("500", "server error"))
    elif path == "/429":
        c.respond(429, "Too Many Requests", page("429", "slow down"),
                  extra=("Retry-After: " + q.get("after", "1"),))
    elif path == "/429-once":
        key = q.get("k", "")
        with lock:
            first = key not in once_keys
            once_keys.add(key)
        if first:
            c.respond(429, "Too Many Requests", page("429", "slow down"), extra=("Retry-After: 1",))
        else:
            c.respond(200, "OK", page("ok", "<p>served after waiting</p>"))
    elif path == "/503-long":
        c.respond(503, "Service Unavailable", page("503", "later"), extra=("Retry-After: 120",))
    elif path == "/empty-reply":
        return
    elif path == "/robots.txt":
        c.respond(200, "OK", b"User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    elif path.startswith("/private/"):
        c.respond(200, "OK", page("private", "robots.txt says no"))
    elif path == "/echo-ua":
        text = "%s\n%s\n" % (headers.get("user-agent", ""), headers.get("accept-encoding", ""))
        c.respond(200, "OK", text.encode("utf-8"), ctype="text/plain")
    else:
        c.respond(404, "Not Found", page("404", "no such route"))


def route_tls(c, target, headers):
    path = target.partition("?")[0]
    if path == "/ok":
        c.respond(200, "OK", page("tls", "<p>hello over TLS</p>"))
    else:
        c.respond(404, "Not Found", page("404", "no such route"))


def route_guard(c, target, headers):
    c.respond(200, "OK", page("secret", "the guard failed: this must never be fetched"))


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        name = self.server.name
        count(conn_counts, name)
        sock = self.request
        try:
            if self.server.tls:
                sock.settimeout(10)
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            target, headers = read_request(sock)
            if target is None:
                return
            count(route_counts, target.partition("?")[0])
            c = Conn(sock)
            if target.partition("?")[0] == "/_stats":
                with lock:
                    body = json.dumps({"listeners": conn_counts, "routes": route_counts}).encode()
                c.respond(200, "OK", body, ctype="application/json")
                return
            sock.settimeout(60)
            self.server.route(c, target, headers)
        except (OSError, ssl.SSLError):
            pass  # the client went away or failed the handshake: that is the test
        finally:
            try:
                sock.close()
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def listen(name, addr, route, tls=None):
    srv = Server((addr, 0), Handler)
    srv.name = name
    srv.route = route
    srv.tls = tls
    ports[name] = srv.server_address[1]
    conn_counts[name] = 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def tls_context(pki, leaf):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, leaf + ".crt"), os.path.join(pki, leaf + ".key"))
    return ctx


def main():
    args = sys.argv[1:]
    opts = {"--pki": None, "--bind": "127.0.0.1", "--deadline": "300", "--workdir": None}
    if args == ["--routes"]:
        sys.stdout.write(__doc__)
        return
    while args:
        if args[0] not in opts or len(args) < 2:
            sys.stderr.write("hostile.py: bad arguments (see --routes)\n")
            sys.exit(2)
        opts[args[0]] = args[1]
        args = args[2:]
    workdir = opts["--workdir"] or tempfile.mkdtemp(prefix="hostile.")
    make_bombs(workdir)
    if not opts["--workdir"]:
        shutil.rmtree(workdir, ignore_errors=True)
    listen("http", opts["--bind"], route_http)
    listen("guard", "127.0.0.1", route_guard)
    if opts["--pki"]:
        for name in ("good", "wronghost", "expired", "unknown"):
            listen("https-" + name, "127.0.0.1", route_tls, tls_context(opts["--pki"], name))
    for name, port in ports.items():
        print(name, port)
    print("bombs", " ".join(sorted(bombs)))
    print("ready", flush=True)
    deadline = time.time() + float(opts["--deadline"])
    while time.time() < deadline:
        r, _, _ = select.select([sys.stdin], [], [], max(0.0, min(1.0, deadline - time.time())))
        if r and not sys.stdin.buffer.read1(4096):
            break
    os._exit(0)


main()

#!/usr/bin/env python3
"""A fake OpenAI-compatible server for the remote backend's tests.

Python standard library only; listens on 127.0.0.1 only.

    fake_openai.py --script FILE [--record FILE] [--seed N] [--model NAME]
                   [--max-model-len N] [--api-key KEY] [--no-tokenize]
    fake_openai.py --dir DIR [--seed N] [--model NAME]

Prints its port on the first line of stdout, serves until stdin reaches end
of file, then exits.

With --script, one script serves every request.  With --dir, the first
component of a request's path names the script: /NAME/v1/completions takes
its replies from DIR/NAME.jsonl (read at its first request) and records to
DIR/NAME.record.jsonl, so one server serves many test cases.  A script's
first line may be {"server": {"api_key": K, "max_model_len": N,
"no_tokenize": true, "model": NAME}}, the options of that script's server.

Routes (under any prefix, e.g. /v1): GET .../models, POST .../completions,
POST .../chat/completions, POST .../tokenize (also at the root, as vLLM and
llama.cpp serve it).  Every request is appended to the record file as one
JSON line: {"method", "path", "authorization", "body"} (body parsed when it
is JSON, else the raw text).

Each generation request (completions or chat) takes the next line of the
script, a JSON object; running out of lines answers 500.  The fields say
what the reply is and how this request misbehaves:

  reply            the model's text (completions) or the content (chat)
  reasoning        chat: reasoning sent before the content, split out in
                   "reasoning_content" deltas (reasoning_field: "reasoning"
                   for the other name)
  expect_last      a string the prompt (completions) or the last message
                   (chat) must contain, else 400
  error            a 400 with this message (a failing call)
  context_error    a 400 context-length error worded as "vllm" (true),
                   "llamacpp" or "sglang" would word it
  status           answer this HTTP status with an error body ("message")
  retry_after      the Retry-After header of that answer (a string)
  stall_first      seconds to wait after the headers, before any byte
  stall_after      characters of the reply to send, then stall stall_s
                   seconds (default 30) and drop the connection
  drop_after       characters of the reply to send, then drop the connection
  error_event      an object sent as data: {"error": OBJECT} after
                   error_after characters (default 0); the stream then ends
  error_object     the same, the object sent as it is (vLLM's older
                   {"object": "error", "message", "code"})
  no_done          end without data: [DONE]
  no_finish        also without the finish chunk and usage
  ignore_stop      send the whole reply even past a stop string
                   (otherwise stop strings cut it, as vLLM does)
  json             answer with one JSON object instead of a stream
  eol              "lf", "crlf" or "cr" line ends (default: random per event)
  keepalive        ": keep-alive" comments between events
  chunk_chars      most characters per delta (default 6)
  cached           usage.prompt_tokens_details.cached_tokens
  split_seed       seed of the splitting (default: --seed plus the request's
                   number)

The stream's bytes are written in pieces cut at random byte offsets (inside
UTF-8 sequences and tags too), each as its own HTTP chunk.
"""

import argparse
import json
import os
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTEXT_MESSAGES = {
    "vllm": "This model's maximum context length is 4096 tokens. However, you requested "
            "5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the "
            "length of the messages or completion.",
    "llamacpp": "the request exceeds the available context size, try increasing it",
    "sglang": "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
}


class Script:
    """The replies of one script and where its requests are recorded."""

    def __init__(self, path, record, args):
        self.lock = threading.Lock()
        with open(path, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        conf = lines.pop(0)["server"] if lines and "server" in lines[0] else {}
        self.api_key = conf.get("api_key", args.api_key)
        self.max_model_len = conf.get("max_model_len", args.max_model_len)
        self.no_tokenize = conf.get("no_tokenize", args.no_tokenize)
        self.model = conf.get("model", args.model)
        self.seed = args.seed
        self.lines = lines
        self.record_path = record
        self.next = 0
        self.n_requests = 0

    def take(self):
        with self.lock:
            self.n_requests += 1
            if self.next >= len(self.lines):
                return None, self.n_requests
            line = self.lines[self.next]
            self.next += 1
            return line, self.n_requests

    def record(self, entry):
        if not self.record_path:
            return
        with self.lock, open(self.record_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.scripts = {}
        self.default = Script(args.script, args.record, args) if args.script else None

    def route(self, path):
        """(script, path under it) for a request path, or (None, path)."""
        if self.default:
            return self.default, path
        parts = path.split("/", 2)
        name = parts[1] if len(parts) > 1 else ""
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            return None, path
        with self.lock:
            if name not in self.scripts:
                try:
                    self.scripts[name] = Script(os.path.join(self.args.dir, name + ".jsonl"),
                                                os.path.join(self.args.dir, name + ".record.jsonl"),
                                                self.args)
                except OSError:
                    return None, path
            return self.scripts[name], "/" + (parts[2] if len(parts) > 2 else "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1"

    def log_message(self, fmt, *a):
        pass

    # -------------------------------------------------------------- plumbing
    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_error_json(self, status, message, headers=None):
        self.send_json(status, {"error": {"message": message, "type": "BadRequestError"
                                          if status < 500 else "InternalServerError",
                                          "code": status}}, headers)

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return raw, json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            return raw, None

    def authorized(self, sc):
        if sc.api_key and self.headers.get("Authorization") != "Bearer " + sc.api_key:
            self.send_error_json(401, "Incorrect API key provided")
            return False
        return True

    # -------------------------------------------------------------- routes
    def do_GET(self):
        sc, path = self.server.state.route(self.path)
        if sc is None:
            self.send_error_json(404, "no script for " + self.path)
            return
        sc.record({"method": "GET", "path": self.path,
                   "authorization": self.headers.get("Authorization"), "body": None})
        if not self.authorized(sc):
            return
        if path.endswith("/models"):
            m = {"id": sc.model, "object": "model", "owned_by": "fake"}
            if sc.max_model_len:
                m["max_model_len"] = sc.max_model_len
            self.send_json(200, {"object": "list", "data": [m]})
        else:
            self.send_error_json(404, "no route " + self.path)

    def do_POST(self):
        sc, path = self.server.state.route(self.path)
        raw, body = self.read_body()
        if sc is None:
            self.send_error_json(404, "no script for " + self.path)
            return
        sc.record({"method": "POST", "path": self.path,
                   "authorization": self.headers.get("Authorization"),
                   "body": body if body is not None else raw.decode("utf-8", "replace")})
        if not self.authorized(sc):
            return
        if path.endswith("/tokenize"):
            if sc.no_tokenize or not isinstance(body, dict):
                self.send_error_json(404, "Not Found")
                return
            text = body.get("prompt", body.get("content", ""))
            # one "token" per character: distinct from any estimate
            self.send_json(200, {"count": len(text), "tokens": list(range(len(text))),
                                 "max_model_len": sc.max_model_len or 0})
        elif path.endswith("/chat/completions"):
            self.generate(sc, body, chat=True)
        elif path.endswith("/completions"):
            self.generate(sc, body, chat=False)
        else:
            self.send_error_json(404, "no route " + self.path)

    # -------------------------------------------------------------- generation
    def generate(self, sc, body, chat):
        if not isinstance(body, dict):
            self.send_error_json(400, "the body is not a JSON object")
            return
        line, n = sc.take()
        if line is None:
            self.send_error_json(500, "the script has no more replies")
            return
        if chat:
            msgs = body.get("messages") or [{}]
            prompt_text = "".join(str(m.get("content", "")) for m in msgs)
            last = str(msgs[-1].get("content", ""))
        else:
            prompt_text = last = str(body.get("prompt", ""))
        if "expect_last" in line and line["expect_last"] not in last:
            self.send_error_json(400, "expected the last message to contain %r" % line["expect_last"])
            return
        if "error" in line:
            self.send_error_json(400, str(line["error"]))
            return
        if line.get("context_error"):
            flavour = line["context_error"] if isinstance(line["context_error"], str) else "vllm"
            self.send_error_json(400, CONTEXT_MESSAGES[flavour])
            return
        if "status" in line:
            headers = {"Retry-After": line["retry_after"]} if "retry_after" in line else None
            self.send_error_json(int(line["status"]), line.get("message", "scripted failure"), headers)
            return

        reply = line.get("reply", "")
        reasoning = line.get("reasoning", "") if chat else ""
        stops = body.get("stop") or []
        if isinstance(stops, str):
            stops = [stops]
        finish, stop_reason = "stop", None
        if not line.get("ignore_stop"):
            cut = min([(reply.find(s), s) for s in stops if s and s in reply] or [(-1, None)])
            if cut[0] >= 0:
                reply, stop_reason = reply[:cut[0]], cut[1]
        seed = line.get("split_seed", sc.seed * 1000 + n)
        rng = random.Random(seed)
        model = body.get("model", sc.model)
        usage = {"prompt_tokens": len(prompt_text) // 4 + 1, "total_tokens": 0,
                 "completion_tokens": 0}
        if "cached" in line:
            usage["prompt_tokens_details"] = {"cached_tokens": line["cached"]}

        # the deltas: (kind, text) with kind "r" reasoning or "c" content
        deltas = []
        for kind, text in (("r", reasoning), ("c", reply)):
            i = 0
            while i < len(text):
                k = rng.randint(1, max(1, int(line.get("chunk_chars", 6))))
                deltas.append((kind, text[i:i + k]))
                i += k
        usage["completion_tokens"] = len(deltas)
        usage["total_tokens"] = usage["prompt_tokens"] + len(deltas)

        if line.get("json"):
            msg = {"role": "assistant", "content": reply}
            if reasoning:
                msg[line.get("reasoning_field", "reasoning_content")] = reasoning
            choice = {"index": 0, "finish_reason": finish, "stop_reason": stop_reason}
            if chat:
                choice["message"] = msg
            else:
                choice["text"] = reply
            self.send_json(200, {"id": "x", "object": "chat.completion" if chat else "text_completion",
                                 "model": model, "choices": [choice], "usage": usage})
            return

        def chunk_obj(choice):
            return {"id": "cmpl-%d" % n, "object": "chat.completion.chunk" if chat
                    else "text_completion", "created": 0, "model": model, "choices": [choice]}

        def delta_choice(kind, text):
            if chat:
                d = {"content": text} if kind == "c" else \
                    {line.get("reasoning_field", "reasoning_content"): text}
                return {"index": 0, "delta": d, "logprobs": None, "finish_reason": None}
            return {"index": 0, "text": text, "logprobs": None, "finish_reason": None,
                    "stop_reason": None}

        eols = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}

        def event(obj):
            e = eols.get(line.get("eol")) or rng.choice(["\n", "\r\n", "\r"])
            s = ""
            if line.get("keepalive"):
                s += ": keep-alive" + e + e
            data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
            return (s + "data: " + data + e + e).encode()

        # segments: bytes to write, or ("sleep", s) / ("drop",)
        segs = []
        if chat:
            segs.append(event(chunk_obj({"index": 0, "delta": {"role": "assistant", "content": ""},
                                         "finish_reason": None})))
        if line.get("stall_first"):
            segs.insert(0, ("sleep", float(line["stall_first"])))
        sent = 0
        limit_stall = line.get("stall_after")
        limit_drop = line.get("drop_after")
        if "error_event" in line:
            err_obj = {"error": line["error_event"]}
        else:
            err_obj = line.get("error_object")
        err_after = line.get("error_after", 0) if err_obj is not None else None
        ended = False
        for kind, text in deltas:
            for lim, what in ((limit_stall, "stall"), (limit_drop, "drop"), (err_after, "error")):
                if lim is not None and sent + len(text) > lim and not ended:
                    head = text[:max(0, lim - sent)]
                    if head:
                        segs.append(event(chunk_obj(delta_choice(kind, head))))
                    if what == "stall":
                        segs.append(("sleep", float(line.get("stall_s", 30))))
                        segs.append(("drop",))
                    elif what == "drop":
                        segs.append(("drop",))
                    else:
                        segs.append(event(err_obj))
                        segs.append(("end",))
                    ended = True
            if ended:
                break
            segs.append(event(chunk_obj(delta_choice(kind, text))))
            sent += len(text)
        if not ended and err_after is not None:
            segs.append(event(err_obj))
            segs.append(("end",))
            ended = True
        if not ended:
            if not line.get("no_finish"):
                fc = {"index": 0, "finish_reason": line.get("finish_reason", finish)}
                if chat:
                    fc["delta"] = {}
                else:
                    fc["text"] = ""
                    fc["stop_reason"] = stop_reason
                if stop_reason is not None and chat:
                    fc["stop_reason"] = stop_reason
                segs.append(event(chunk_obj(fc)))
                segs.append(event({"id": "cmpl-%d" % n, "object": "text_completion", "created": 0,
                                   "model": model, "choices": [], "usage": usage}))
            if not line.get("no_done"):
                segs.append(event("[DONE]"))
            segs.append(("end",))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for seg in segs:
                if isinstance(seg, tuple):
                    if seg[0] == "sleep":
                        time.sleep(seg[1])
                    elif seg[0] == "drop":
                        self.drop()
                        return
                    elif seg[0] == "end":
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    continue
                i = 0
                while i < len(seg):
                    k = rng.randint(1, 24)
                    self.chunk(seg[i:i + k])
                    i += k
                    if rng.random() < 0.05:
                        time.sleep(0.0005)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script")
    ap.add_argument("--dir")
    ap.add_argument("--record")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--max-model-len", type=int, default=0)
    ap.add_argument("--api-key")
    ap.add_argument("--no-tokenize", action="store_true")
    args = ap.parse_args()
    if not args.script and not args.dir:
        ap.error("give --script FILE or --dir DIR")

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a client that went away mid-stream is part of the tests

    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(args)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

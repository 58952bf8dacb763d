#!/usr/bin/env python3
"""A webhook receiver for drivetribe-consume --http (Python 3 standard
library only): the test server of test/e2e/consume_sink_http.sh, and an
example of what a receiver checks (docs/sink-http.md).

  webhook_receiver.py --port P [--secret-file F] [--out FILE] [--control FILE]
                      [--requests FILE] [--discard]

Listens on 127.0.0.1:P (HTTP/1.1, keep-alive, a thread per connection).  For
each POST:
  - with --secret-file, checks X-Drivetribe-Signature (sha256=HEX, the
    HMAC-SHA256 of the exact body keyed by the file's content without its
    final newline) in constant time: 401 when it is missing or wrong;
  - reads the control file (when given) and acts on its first word:
      fail        answer 500 (nothing recorded)
      hang TOKEN  the first request seen with this TOKEN records the batch,
                  then waits 6 s before answering 200 (longer than the
                  consumer's --http-timeout: the consumer sees a timeout
                  and sends the batch again)
      anything else, or no file: normal
  - records the batch (unless --discard): one JSON line appended to --out,
    {"key":..., "attempt":..., "run":..., "end_lsn":..., "events":[...]},
    flushed and fsync'd before the answer, then answers 200;
  - appends "STATUS KEY ATTEMPT RUN" to --requests (when given).
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret-file")
    ap.add_argument("--out")
    ap.add_argument("--control")
    ap.add_argument("--requests")
    ap.add_argument("--discard", action="store_true")
    args = ap.parse_args()

    secret = None
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read()
        if secret.endswith(b"\n"):
            secret = secret[:-1]
        if secret.endswith(b"\r"):
            secret = secret[:-1]
    lock = threading.Lock()
    hung_tokens = set()
    out = open(args.out, "ab") if args.out else None
    reqlog = open(args.requests, "a") if args.requests else None

    def control():
        if not args.control:
            return []
        try:
            with open(args.control) as f:
                return f.read().split()
        except OSError:
            return []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, text):
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def note(self, status):
            if reqlog is not None:
                with lock:
                    reqlog.write("%d %s %s %s\n" % (
                        status, self.headers.get("Idempotency-Key", "-"),
                        self.headers.get("X-Drivetribe-Attempt", "-"),
                        self.headers.get("X-Run", "-")))
                    reqlog.flush()

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if secret is not None:
                want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Drivetribe-Signature", "")
                if not hmac.compare_digest(want.encode(), got.encode()):
                    self.note(401)
                    self.answer(401, "bad signature")
                    return
            words = control()
            if words[:1] == ["fail"]:
                self.note(500)
                self.answer(500, "failing on purpose")
                return
            hang = False
            if words[:1] == ["hang"] and len(words) > 1:
                with lock:
                    if words[1] not in hung_tokens:
                        hung_tokens.add(words[1])
                        hang = True
            if not args.discard:
                doc = json.loads(body)
                rec = {"key": self.headers.get("Idempotency-Key"),
                       "attempt": int(self.headers.get("X-Drivetribe-Attempt", "0")),
                       "run": self.headers.get("X-Run"),
                       "end_lsn": doc["end_lsn"],
                       "events": doc["events"]}
                line = json.dumps(rec, separators=(",", ":")).encode() + b"\n"
                with lock:
                    out.write(line)
                    out.flush()
                    os.fsync(out.fileno())
            if hang:
                self.note(0)	# 0: recorded, answered too late
                time.sleep(6)
            else:
                self.note(200)
            self.answer(200, "ok")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("listening on 127.0.0.1:%d" % args.port, file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

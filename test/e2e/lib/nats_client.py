#!/usr/bin/env python3
"""A minimal NATS JetStream client for the e2e tests (stdlib only: Debian
has no `nats` CLI).  It speaks the client protocol over TCP and makes
JetStream API requests ($JS.API.*), one at a time.

  nats_client.py HOST PORT create STREAM_CONFIG_JSON
      create a stream ($JS.API.STREAM.CREATE.<name>); prints the reply
  nats_client.py HOST PORT info STREAM
      prints "messages first_seq last_seq" of the stream
  nats_client.py HOST PORT dump STREAM
      every message of the stream by sequence ($JS.API.STREAM.MSG.GET),
      one TSV line each for COPY's text format: stream seq, subject,
      Nats-Msg-Id header, data

Exits 1 with a message on stderr on any error (an API error reply
included).
"""
import base64
import json
import os
import socket
import sys


class Nats:
    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        line = self.readline()
        if not line.startswith(b"INFO "):
            raise RuntimeError("no INFO from the server: %r" % line[:80])
        self.inbox = "_INBOX." + os.urandom(8).hex()
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                          b'"no_responders":true,"lang":"python","version":"dt-test"}\r\n'
                          b"PING\r\nSUB " + self.inbox.encode() + b".* 1\r\n")
        while True:
            line = self.readline()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode(errors="replace"))
        self.n = 0

    def readline(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def readexact(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, subject, payload):
        """send payload to subject, return the reply's (status, payload)"""
        self.n += 1
        reply = "%s.%d" % (self.inbox, self.n)
        self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(),
                                                     len(payload), payload))
        while True:
            line = self.readline()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line in (b"PONG", b"+OK") or line.startswith(b"INFO "):
                continue
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode(errors="replace"))
            parts = line.split()
            if parts[0] == b"MSG":
                data = self.readexact(int(parts[-1]) + 2)[:-2]
                status = 0
            elif parts[0] == b"HMSG":
                data = self.readexact(int(parts[-1]) + 2)[:-2]
                hdr = int(parts[-2])
                head = data[:hdr].split(b"\r\n", 1)[0].split()
                status = int(head[1]) if len(head) > 1 else 0
                data = data[hdr:]
            else:
                raise RuntimeError("unexpected line %r" % line[:80])
            if parts[1].decode() != reply:
                continue        # an earlier request's late reply
            return status, data


def api(nc, subject, body):
    status, data = nc.request(subject, json.dumps(body).encode())
    if status != 0:
        raise RuntimeError("%s: status %d (no JetStream?)" % (subject, status))
    reply = json.loads(data)
    if "error" in reply:
        raise RuntimeError("%s: %s" % (subject, reply["error"]))
    return reply


def tsv(text):
    return (text.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def main():
    host, port, cmd = sys.argv[1], sys.argv[2], sys.argv[3]
    nc = Nats(host, port)
    if cmd == "create":
        config = json.loads(sys.argv[4])
        print(json.dumps(api(nc, "$JS.API.STREAM.CREATE." + config["name"], config)))
    elif cmd == "info":
        state = api(nc, "$JS.API.STREAM.INFO." + sys.argv[4], {})["state"]
        print(state["messages"], state["first_seq"], state["last_seq"])
    elif cmd == "dump":
        stream = sys.argv[4]
        state = api(nc, "$JS.API.STREAM.INFO." + stream, {})["state"]
        out = sys.stdout
        for seq in range(state["first_seq"], state["last_seq"] + 1):
            if state["messages"] == 0:
                break
            msg = api(nc, "$JS.API.STREAM.MSG.GET." + stream, {"seq": seq})["message"]
            msg_id = ""
            hdrs = base64.b64decode(msg.get("hdrs", "")).decode()
            for h in hdrs.split("\r\n")[1:]:
                name, _, value = h.partition(":")
                if name.strip().lower() == "nats-msg-id":
                    msg_id = value.strip()
            data = base64.b64decode(msg.get("data", "")).decode()
            out.write("%d\t%s\t%s\t%s\n" % (msg["seq"], tsv(msg["subject"]), tsv(msg_id), tsv(data)))
    else:
        raise RuntimeError("unknown command " + cmd)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 -- a test helper: say what failed
        print("nats_client: %s" % e, file=sys.stderr)
        sys.exit(1)

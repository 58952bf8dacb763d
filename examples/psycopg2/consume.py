#!/usr/bin/env python3
# A drivetribe stream consumer on psycopg2 (README "Consuming the stream").
# usage: consume.py DSN SLOT FILE   appends each event (one JSON line) to FILE
import json, os, sys
import psycopg2, psycopg2.extras

dsn, slot, path = sys.argv[1:4]
conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
cur = conn.cursor()
cur.start_replication(slot_name=slot, decode=True, options={"include_commits": "on"})
sink = open(path, "a")

def lsn(text):                              # "0/1A2B3C8" -> 0x1A2B3C8
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)

def handle(msg):
    obj = json.loads(msg.payload)
    if "seq" in obj:                        # an event: hand it downstream
        sink.write(msg.payload + "\n")
    elif obj.get("commit"):                 # its transaction is complete:
        sink.flush()                        # make the downstream durable,
        os.fsync(sink.fileno())             # then confirm the commit's end
        msg.cursor.send_feedback(flush_lsn=lsn(obj["end_lsn"]))  # sent within 1 s
    # {"heartbeat":true,...} is followed by a commit object: nothing to do

cur.consume_stream(handle, keepalive_interval=1)

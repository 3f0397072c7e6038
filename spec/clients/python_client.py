#!/usr/bin/python3
"""
Bridge between the client-matrix scenario (spec/clients/scenario.ts) and Debian's
python3-stomp (stomp.py) over plain TCP. Run it with /usr/bin/python3 (the system
interpreter that has the Debian package), not a python3 from PATH:

    /usr/bin/python3 spec/clients/python_client.py HOST PORT

Commands arrive on stdin, one JSON object per line:
    {"op": "connect", "login": "bob"}
    {"op": "subscribe", "destination": "/user/queue/x", "id": "1"}
    {"op": "send", "destination": "/topic/t", "body": "hi", "headers": {"receipt": "r1"}}
    {"op": "bad"}                  -- an unknown command frame
    {"op": "close"}
Events go to stdout, one JSON object per line:
    {"ev": "connected" | "message" | "receipt" | "error", "headers": {...}, "body": "..."}
    {"ev": "disconnected"} | {"ev": "failed", "error": "..."} | {"ev": "ready"}

The whole run is bounded by a SIGALRM (PY_STOMP_TIMEOUT seconds, default 60).
"""
import json
import os
import signal
import sys
import threading

import stomp

signal.alarm(int(os.environ.get("PY_STOMP_TIMEOUT", "60")))

_lock = threading.Lock()


def emit(ev, **kw):
    kw["ev"] = ev
    with _lock:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()


def as_text(body):
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body or ""


class Listener(stomp.ConnectionListener):
    def on_connected(self, frame):
        emit("connected", headers=dict(frame.headers), body=as_text(frame.body))

    def on_message(self, frame):
        emit("message", headers=dict(frame.headers), body=as_text(frame.body))

    def on_receipt(self, frame):
        emit("receipt", headers=dict(frame.headers), body="")

    def on_error(self, frame):
        emit("error", headers=dict(frame.headers), body=as_text(frame.body))

    def on_disconnected(self):
        emit("disconnected")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    # No socket timeout: stomp.py applies it to every read, so a quiet 5 s would drop the
    # connection. The run is bounded by SIGALRM above and by the test killing the process.
    conn = stomp.Connection12([(host, port)], heartbeats=(0, 0), reconnect_attempts_max=1)
    conn.set_listener("bridge", Listener())
    emit("ready", version=".".join(str(x) for x in stomp.__version__))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        op = cmd.get("op")
        try:
            if op == "connect":
                # stomp.py sends a STOMP frame for 1.2 (CONNECT with with_connect_command=True).
                conn.connect(username=cmd["login"], wait=True, headers={"host": "localhost"})
            elif op == "subscribe":
                conn.subscribe(destination=cmd["destination"], id=cmd["id"], ack="auto")
            elif op == "send":
                conn.send(destination=cmd["destination"], body=cmd.get("body", ""), headers=cmd.get("headers") or {})
            elif op == "bad":
                conn.send_frame("BOGUS", {})
            elif op == "close":
                if conn.is_connected():
                    conn.disconnect()
                break
        except Exception as e:  # report, keep reading: the test decides
            emit("failed", error="%s: %s" % (type(e).__name__, e))
    try:
        if conn.is_connected():
            conn.disconnect()
    except Exception:
        pass


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""fake_policy.py - stand-in for greyspfd while debugging postfix_e2e.sh.

Accepts the same command line (-f -c FILE) and the subset of the INI config the e2e
test writes: [server] listen=inet:HOST:PORT, [policy] skip_clients, skip_action,
default_action. Answers skip_action for a client in skip_clients, default_action
otherwise; one log line per decision on stderr; SIGHUP re-reads the config,
SIGTERM exits 0. Not used by ctest: the registered test runs the real greyspfd.
"""
import configparser
import getopt
import signal
import socketserver
import sys
import threading
import time

CONF = {}
CONF_LOCK = threading.Lock()  # protects CONF


def log(msg):
    sys.stderr.write("fake_policy: %s\n" % msg)
    sys.stderr.flush()


def load(path):
    cp = configparser.ConfigParser()
    cp.read(path)
    listen = cp.get("server", "listen")
    if not listen.startswith("inet:"):
        raise SystemExit("fake_policy: only inet: listen is supported")
    host, port = listen[5:].rsplit(":", 1)
    return {
        "host": host,
        "port": int(port),
        "skip": cp.get("policy", "skip_clients", fallback="").split(),
        "skip_action": cp.get("policy", "skip_action", fallback="DUNNO"),
        "default_action": cp.get("policy", "default_action", fallback="DUNNO"),
    }


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        attrs = {}
        start = None
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if start is None:
                start = time.monotonic()
            if line:
                name, _, value = line.partition("=")
                attrs.setdefault(name, value)
                continue
            with CONF_LOCK:
                conf = dict(CONF)
            client = attrs.get("client_address", "")
            action = conf["skip_action"] if client in conf["skip"] else conf["default_action"]
            self.wfile.write(("action=%s\n\n" % action).encode())
            self.wfile.flush()
            log("decision: client=%s sender=<%s> recipient=<%s> queue_id=%s action=%s latency_ms=%.1f"
                % (client, attrs.get("sender", ""), attrs.get("recipient", ""),
                   attrs.get("queue_id", ""), action, (time.monotonic() - start) * 1000))
            attrs, start = {}, None


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    opts, _ = getopt.getopt(sys.argv[1:], "fc:")
    path = dict(opts).get("-c")
    if not path:
        raise SystemExit("usage: fake_policy.py -f -c FILE")
    CONF.update(load(path))
    srv = Server((CONF["host"], CONF["port"]), Handler)

    def on_hup(_sig, _frm):
        with CONF_LOCK:
            CONF.update(load(path))
        log("config reloaded: skip_clients=%s" % " ".join(CONF["skip"]))

    def on_term(_sig, _frm):
        log("SIGTERM: exiting")
        threading.Thread(target=srv.shutdown).start()

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    log("listening on %s:%d" % (CONF["host"], CONF["port"]))
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A remote write receiver for tests, written from the spec and prompb's
.proto files (prometheus/prometheus prompb/remote.proto, types.proto), not
from bpfex: Debian's python3-snappy uncompresses, python3-protobuf decodes
against message types built here from those field numbers. It checks each
request as the spec requires and keeps every sample; its `behaviour`
(a function of the request number) makes it refuse, throttle, stall,
redirect or answer garbage, for the fault tests.
"""
import http.server
import math
import socketserver
import struct
import threading
import time

import snappy
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

STALE_NAN_BITS = 0x7FF0000000000002


def _messages():
    fdp = descriptor_pb2.FileDescriptorProto(name="rw_test.proto", package="rwtest", syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto

    def msg(name, *fields):
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = ".rwtest." + tname
    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    msg("Label", ("name", 1, F.TYPE_STRING, opt, None), ("value", 2, F.TYPE_STRING, opt, None))
    msg("Sample", ("value", 1, F.TYPE_DOUBLE, opt, None), ("timestamp", 2, F.TYPE_INT64, opt, None))
    msg("TimeSeries", ("labels", 1, F.TYPE_MESSAGE, rep, "Label"), ("samples", 2, F.TYPE_MESSAGE, rep, "Sample"))
    msg("WriteRequest", ("timeseries", 1, F.TYPE_MESSAGE, rep, "TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("rwtest.WriteRequest")
    try:
        return message_factory.GetMessageClass(desc)
    except AttributeError:  # protobuf < 4.22
        return message_factory.MessageFactory(pool).GetPrototype(desc)


WriteRequest = _messages()


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def is_stale(v):
    return bits(v) == STALE_NAN_BITS


class Receiver:
    """Listens on 127.0.0.1:port. samples: {labels (tuple of pairs): [(ts, value)]},
    in arrival order; requests: [(time, status, samples)]; problems: what broke
    the spec."""

    def __init__(self, port, behaviour=None):
        self.port = port
        self.behaviour = behaviour or (lambda n, handler: None)
        self.lock = threading.Lock()
        self.samples = {}
        self.requests = []
        self.problems = []
        self.headers = []
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rx.lock:
                    n = len(rx.requests)
                    rx.requests.append([time.time(), None, 0])
                    rx.headers.append(dict(self.headers))
                answer = rx.behaviour(n, self)
                if answer == "handled":
                    return
                status, extra, payload = answer if answer else (204, {}, b"")
                samples = rx.decode(body, keep=200 <= status < 300)
                with rx.lock:
                    rx.requests[n][1] = status
                    rx.requests[n][2] = samples
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def problem(self, what):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(what)

    def decode(self, body, keep):
        """Checks and (if keep) stores one request; returns its sample count."""
        try:
            raw = snappy.uncompress(body)
        except Exception as e:  # noqa: BLE001
            self.problem(f"not snappy block data: {e}")
            return 0
        req = WriteRequest()
        req.ParseFromString(raw)
        count = 0
        for ts in req.timeseries:
            names = [l.name for l in ts.labels]
            if names != sorted(names):
                self.problem(f"labels not sorted: {names}")
            if len(set(names)) != len(names):
                self.problem(f"a label twice: {names}")
            if "__name__" not in names:
                self.problem(f"no __name__: {names}")
            if any(l.value == "" for l in ts.labels):
                self.problem(f"an empty label value: {names}")
            if not ts.samples:
                self.problem(f"a series without samples: {names}")
            key = tuple((l.name, l.value) for l in ts.labels)
            count += len(ts.samples)
            if keep:
                with self.lock:
                    self.samples.setdefault(key, []).extend((s.timestamp, s.value) for s in ts.samples)
        return count

    def check_headers(self):
        for h in self.headers:
            low = {k.lower(): v for k, v in h.items()}
            want = {"content-encoding": "snappy", "content-type": "application/x-protobuf",
                    "x-prometheus-remote-write-version": "0.1.0"}
            for k, v in want.items():
                if low.get(k) != v:
                    return f"header {k}: {low.get(k)!r}, want {v!r}"
            if not low.get("user-agent", "").startswith("bpfex/"):
                return f"User-Agent {low.get('user-agent')!r}"
        return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def labels_of_text_series(series_text):
    """The label pairs (with __name__) of a text-exposition series, unescaped;
    a label with an empty value is absent, as Prometheus has it."""
    brace = series_text.find("{")
    if brace < 0:
        return {"__name__": series_text}
    out = {"__name__": series_text[:brace]}
    s = series_text[brace + 1:-1]
    i = 0
    while i < len(s):
        eq = s.index('="', i)
        name = s[i:eq]
        j = eq + 2
        val = []
        while s[j] != '"':
            if s[j] == "\\":
                j += 1
                val.append("\n" if s[j] == "n" else s[j])
            else:
                val.append(s[j])
            j += 1
        if val:  # empty is absent
            out[name] = "".join(val)
        i = j + 1
        if i < len(s) and s[i] == ",":
            i += 1
    return out


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    return float(text)

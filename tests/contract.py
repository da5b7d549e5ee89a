#!/usr/bin/env python3
# contract.py -- the built server against doc/openapi.yaml, live.
#
# Starts avatar-api on free loopback ports in each mode (epoll,
# thread-per-connection, relay in front of the epoll one, local with
# --cors-origin and --admin-port, relay to a closed port, relay to an
# upstream that never answers, and --max-connections 1), sends the
# requests of the tables below, and checks every answer against the
# document: the status is one the operation documents (or its "default"
# lists in x-statuses), every header the response marks required is
# there, every header it documents matches its schema, no header it does
# not document appears (Date, Content-Length, Content-Type, Connection and
# Keep-Alive aside), the Content-Type is a documented media type, and the
# body (gunzipped if gzip) validates against the response's JSON Schema
# (Draft 2020-12, the document's $refs resolved); a response with no
# content must have no body, and HEAD never has one.  Each case may also
# expect exact header values beyond the document (the defaults, CORS).
# Then the reverse: every operation of the document, and every status of
# each, was exercised in some mode, but for the short list of EXCEPTIONS.
#
# One line per case; exit 0 if all agree, 1 on any mismatch, 99 if the
# document cannot be read.  Standard library, PyYAML and jsonschema (Debian
# python3-yaml and python3-jsonschema, 4.10 or later) only.  Loopback only.
#
#   contract.py --bin src/avatar-api --fixture data/users.json \
#       --doc doc/openapi.yaml [--tmpdir DIR]

import argparse
import gzip
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import jsonschema
import yaml

# Statuses of the document that no case here produces, and why, as
# (template, METHOD, status) or ("default", status).  None today: every
# status is exercised (504 and the relay's 503 with a silent upstream,
# the framing check's over raw sockets, the acceptor's with
# --max-connections 1).
EXCEPTIONS = {}

# Response header fields that need no description in the document.
GENERIC_HEADERS = {"date", "content-length", "content-type", "connection",
                   "keep-alive"}

ORIGIN = "https://app.example"
METHODS_405 = ("PUT", "POST", "DELETE", "PATCH", "TRACE")
HTTP_METHODS = ("get", "head", "options", "put", "post", "delete", "patch",
                "trace")
TIMEOUT = 30.0          # seconds, for any one exchange (a loaded machine)
START_TIMEOUT = 30.0    # seconds for a server to answer /healthz
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e\x80-\xff]*"')


# ---------------------------------------------------------------------------
# The document


class Doc:
    """doc/openapi.yaml, with $ref lookup and schema validation."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.root = yaml.safe_load(f)
        self.paths = self.root["paths"]
        self.templates = []
        for template in self.paths:
            rx = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                         for part in re.split(r"(\{[^}]+\})", template))
            self.templates.append((re.compile(rx), template))

    def deref(self, obj):
        """Follow local $refs ("#/a/b") until a plain object."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/") or seen > 20:
                raise ValueError("cannot follow $ref %r" % ref)
            obj = self.root
            for part in ref[2:].split("/"):
                obj = obj[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
        return obj

    def template_of(self, target):
        """The path template TARGET (a request target) matches, or None."""
        path = target.split("?", 1)[0]
        for rx, template in self.templates:
            if rx.fullmatch(path):
                return template
        return None

    def operations(self):
        """Every (template, METHOD) the document describes."""
        for template, item in self.paths.items():
            for method in HTTP_METHODS:
                if method in item:
                    yield template, method.upper()

    def validate(self, instance, schema):
        """Errors of INSTANCE against SCHEMA, a schema of this document
        (its "#/components/..." references resolve in the document: they
        are looked up in the root schema, which carries the components;
        a RefResolver or a referencing registry, whichever jsonschema
        4.10 to 4.2x uses, resolves "#/..." in the root)."""
        wrapper = {"allOf": [schema], "components": self.root["components"]}
        validator = jsonschema.Draft202012Validator(wrapper)
        return [e.message + ("" if not e.path else " at /" + "/".join(
                    str(p) for p in e.path))
                for e in validator.iter_errors(instance)]

    def schemas(self):
        """Every schema object in the document: components, media types,
        headers and parameters."""
        root = self.root
        for name, s in root["components"].get("schemas", {}).items():
            yield "components/schemas/" + name, s

        def walk(obj, where):
            if isinstance(obj, dict):
                for k, v in obj.items():
                    if k == "schema" and isinstance(v, dict):
                        yield where + "/schema", v
                    elif k != "schemas":
                        yield from walk(v, where + "/" + str(k))
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    yield from walk(v, "%s/%d" % (where, i))
        yield from walk(root["paths"], "paths")
        yield from walk(root["components"], "components")


def check_document(doc):
    """Things the OpenAPI validator does not look at: every schema is a
    valid Draft 2020-12 schema, operationIds are unique, every response
    has a status or "default", and a "default" that says which statuses
    it stands for.  Returns a list of errors."""
    errors = []
    for where, schema in doc.schemas():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            errors.append("%s: not a valid JSON Schema: %s" % (where,
                                                               e.message))
    ids = {}
    for template, method in doc.operations():
        op = doc.paths[template][method.lower()]
        oid = op.get("operationId")
        if oid in ids:
            errors.append("operationId %s twice: %s and %s %s" %
                          (oid, ids[oid], method, template))
        ids[oid] = "%s %s" % (method, template)
        for code, resp in op["responses"].items():
            resp = doc.deref(resp)
            if code == "default" and not resp.get("x-statuses"):
                errors.append("%s %s: the default response lists no "
                              "x-statuses" % (method, template))
    return errors


# ---------------------------------------------------------------------------
# HTTP over loopback


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # [(name, value)] as received
        self.body = body

    def values(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def get(self, name):
        v = self.values(name)
        return v[0] if v else None


def http_request(port, method, target, headers=(), timeout=TIMEOUT):
    """One request on a new connection, exactly these header fields
    (http.client adds only Host).  Returns a Response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, resp.getheaders(), body)
    finally:
        conn.close()


def parse_raw(data):
    """A Response from the raw bytes of one answer, or None."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    if not m:
        return None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    resp = Response(int(m.group(1)), headers, body)
    length = resp.get("Content-Length")
    if length is not None and length.isdigit():
        resp.body = body[:int(length)]
    return resp


def raw_exchange(port, data, timeout=TIMEOUT):
    """Send DATA (bytes, may be empty) on a new connection and read until
    the server closes it.  Returns a Response, or None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        if data:
            s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return parse_raw(got)


def free_port():
    """A loopback port nothing listens on (now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SilentUpstream:
    """A loopback listener that reads requests and never answers: the
    relay's requests to it wait until --upstream-timeout."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.cond = threading.Condition()
        self.requests = 0
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        while True:
            try:
                chunk = c.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                buf = buf.split(b"\r\n\r\n", 1)[1]
                with self.cond:
                    self.requests += 1
                    self.cond.notify_all()

    def wait_requests(self, n, timeout=10.0):
        with self.cond:
            return self.cond.wait_for(lambda: self.requests >= n, timeout)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


# ---------------------------------------------------------------------------
# Servers


class Server:
    """One avatar-api on a free loopback port."""

    def __init__(self, name, binary, args, tmpdir, relay=False, admin=False):
        self.name = name
        self.relay = relay
        self.port = None
        self.admin_port = None
        self.proc = None
        self.etags = {}         # (target, coding): the ETag of a 200
        self.lengths = {}       # ETag: the Content-Length of its 200
        self.err_path = os.path.join(tmpdir, name + ".err")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AVATAR_API_", "M1_", "M2_"))}
        for _ in range(10):
            port = random.randint(20000, 49999)
            extra = []
            if admin:
                self.admin_port = random.randint(20000, 49999)
                extra = ["--admin-port", str(self.admin_port)]
            with open(self.err_path, "wb") as err:
                self.proc = subprocess.Popen(
                    [binary, "--address", "127.0.0.1", "--port", str(port)]
                    + args + extra, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err, env=env)
            if self._wait_ready(port):
                self.port = port
                return
            status = self.proc.poll()
            if status is None:
                self.stop()
                raise RuntimeError("%s: no answer on /healthz within %d s"
                                   % (name, START_TIMEOUT))
            if status != 69:        # 69: the address is in use
                raise RuntimeError("%s: avatar-api %s exited %d: %s" %
                                   (name, " ".join(args), status,
                                    self.stderr_tail()))
        raise RuntimeError("%s: no free port in 10 tries" % name)

    def _wait_ready(self, port):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if http_request(port, "GET", "/healthz",
                                timeout=2).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stderr_tail(self):
        try:
            with open(self.err_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-5:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ---------------------------------------------------------------------------
# Cases


class Case:
    """One request and what its answer must be.

    headers: [(name, value)], a value may be a function of the Server (an
    ETag from an earlier answer).  expect: {name: value} beyond the
    document, a value being a string (exact), a compiled regex (whole
    match) or a function (value, server) -> bool.  absent: names that must
    not be in the answer.  raw: bytes sent as they are (the answer is read
    until the server closes); op: the (template, METHOD) the answer is
    checked against when the target alone does not say (raw requests)."""

    def __init__(self, name, method, target, status, headers=(), expect=None,
                 absent=(), raw=None, op=None, error=None):
        self.name = name
        self.method = method
        self.target = target
        self.status = status
        self.headers = list(headers)
        self.expect = dict(expect or {})
        self.absent = tuple(absent)
        self.raw = raw
        self.op = op
        self.error = error          # the JSON body's "error", if any


def etag(path, coding="identity", weak=False):
    """A header value: the ETag the server gave for PATH in CODING."""
    def value(server):
        tag = server.etags.get((path, coding))
        if tag is None:
            raise LookupError("no ETag for %s (%s) from an earlier 200" %
                              (path, coding))
        return "W/" + tag if weak else tag
    return value


def same_etag(path, coding="identity"):
    def check(value, server):
        return value == server.etags.get((path, coding))
    check.__doc__ = "the ETag of the earlier 200 for %s (%s)" % (path, coding)
    return check


def other_etag(path, coding="identity"):
    def check(value, server):
        other = server.etags.get((path, coding))
        return STRONG_ETAG.fullmatch(value) is not None and other is not None \
            and value != other
    check.__doc__ = "a strong tag other than the %s one" % coding
    return check


NOT_GZIP = ("Content-Encoding",)
NO_304_FIELDS = ("Content-Type", "Location", "Content-Encoding")
CORS_ALL = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
            "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
            "Access-Control-Max-Age")


def data_cases(vary):
    """The data routes and the rest of the API, as every mode answers
    them (VARY: the Vary of the data routes' 200 and 304)."""
    lst, rec, nope = "/v1/user", "/v1/user/3", "/v1/user/nope"
    ok = {"ETag": STRONG_ETAG, "Cache-Control": "no-cache", "Vary": vary}
    cases = [
        Case("the list", "GET", lst, 200, expect=dict(ok, Location=lst),
             absent=NOT_GZIP),
        Case("the list, HEAD", "HEAD", lst, 200,
             expect=dict(ok, ETag=same_etag(lst), Location=lst),
             absent=NOT_GZIP),
        Case("a record", "GET", rec, 200, expect=dict(ok, Location=rec),
             absent=NOT_GZIP),
        Case("a record, HEAD", "HEAD", rec, 200,
             expect=dict(ok, ETag=same_etag(rec), Location=rec),
             absent=NOT_GZIP),
        Case("the list, gzip", "GET", lst, 200,
             headers=[("Accept-Encoding", "gzip")],
             expect=dict(ok, ETag=other_etag(lst), Location=lst,
                         **{"Content-Encoding": "gzip"})),
        Case("a record, gzip", "GET", rec, 200,
             headers=[("Accept-Encoding", "gzip, deflate;q=0.5")],
             expect=dict(ok, ETag=other_etag(rec), Location=rec,
                         **{"Content-Encoding": "gzip"})),
        Case("the list, gzip;q=0 beside *", "GET", lst, 200,
             headers=[("Accept-Encoding", "*, gzip;q=0")],
             expect=dict(ok, ETag=same_etag(lst)), absent=NOT_GZIP),
        Case("the list, If-None-Match", "GET", lst, 304,
             headers=[("If-None-Match", etag(lst))],
             expect=dict(ok, ETag=same_etag(lst)), absent=NO_304_FIELDS),
        Case("the list, If-None-Match W/", "GET", lst, 304,
             headers=[("If-None-Match", etag(lst, weak=True))],
             expect=dict(ok, ETag=same_etag(lst)), absent=NO_304_FIELDS),
        Case("the list, HEAD, If-None-Match", "HEAD", lst, 304,
             headers=[("If-None-Match", etag(lst))],
             expect=dict(ok, ETag=same_etag(lst)), absent=NO_304_FIELDS),
        Case("the list, gzip, If-None-Match gzip tag", "GET", lst, 304,
             headers=[("Accept-Encoding", "gzip"),
                      ("If-None-Match", etag(lst, "gzip"))],
             expect=dict(ok, ETag=same_etag(lst, "gzip")),
             absent=NO_304_FIELDS),
        Case("a record, If-None-Match *", "GET", rec, 304,
             headers=[("If-None-Match", "*")],
             expect=dict(ok, ETag=same_etag(rec)), absent=NO_304_FIELDS),
        Case("a record, HEAD, If-None-Match", "HEAD", rec, 304,
             headers=[("If-None-Match", etag(rec))],
             expect=dict(ok, ETag=same_etag(rec)), absent=NO_304_FIELDS),
        Case("the list, If-Match its tag", "GET", lst, 200,
             headers=[("If-Match", etag(lst))],
             expect=dict(ok, ETag=same_etag(lst))),
        Case("the list, If-Match another tag", "GET", lst, 412,
             headers=[("If-Match", '"0000000000000000"')],
             error="precondition failed"),
        Case("the list, HEAD, If-Match another tag", "HEAD", lst, 412,
             headers=[("If-Match", '"0000000000000000"')]),
        Case("a record, If-Match W/ (never strong)", "GET", rec, 412,
             headers=[("If-Match", etag(rec, weak=True))],
             error="precondition failed"),
        Case("a record, HEAD, If-Match another tag", "HEAD", rec, 412,
             headers=[("If-Match", '"0000000000000000"')]),
        Case("an unknown record", "GET", nope, 404, error="user not found"),
        Case("an unknown record, HEAD", "HEAD", nope, 404),
        Case("an unknown record, If-None-Match *", "GET", nope, 404,
             headers=[("If-None-Match", "*")], error="user not found"),
        Case("an unknown record, If-Match", "GET", nope, 404,
             headers=[("If-Match", '"0000000000000000"')],
             error="user not found"),
        Case("OPTIONS the list", "OPTIONS", lst, 204, absent=CORS_ALL),
        Case("OPTIONS a record", "OPTIONS", rec, 204, absent=CORS_ALL),
        Case("OPTIONS an unknown record", "OPTIONS", nope, 204,
             absent=CORS_ALL),
        Case("an unknown path", "GET", "/nope", 404, error="not found"),
        Case("the list with a trailing slash", "GET", lst + "/", 404,
             error="not found"),
        Case("below a record", "GET", rec + "/x", 404, error="not found"),
        Case("an id with %2F: more segments", "GET", lst + "/3%2Fx", 404,
             error="not found"),
        Case("OPTIONS an unknown path", "OPTIONS", "/nope", 404,
             error="not found"),
    ]
    for path in ("/healthz", "/readyz", "/metrics"):
        cases += [
            Case("GET " + path, "GET", path, 200),
            Case("HEAD " + path, "HEAD", path, 200),
            Case("OPTIONS " + path, "OPTIONS", path, 204),
        ]
    for path in (lst, rec, "/healthz", "/readyz", "/metrics"):
        for method in METHODS_405:
            cases.append(Case(method + " " + path, method, path, 405,
                              error="method not allowed"))
    return cases


def framing_cases():
    """Requests the framing check refuses, over raw sockets."""
    host = b"Host: 127.0.0.1\r\n"
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(101))
    return [
        Case("400: spaces around the target", "GET", "/v1/user", 400,
             raw=b"GET  /v1/user  HTTP/1.1\r\n" + host + b"\r\n",
             error="bad request"),
        Case("413: Content-Length 99999999999", "GET", "/v1/user", 413,
             raw=b"GET /v1/user HTTP/1.1\r\n" + host +
             b"Content-Length: 99999999999\r\n\r\n",
             error="request body too large"),
        Case("414: a 9000-byte target", "GET", "/v1/user/x", 414,
             raw=b"GET /v1/user/" + b"a" * 9000 + b" HTTP/1.1\r\n" + host +
             b"\r\n", error="request target too long"),
        Case("431: 102 header fields", "GET", "/v1/user", 431,
             raw=b"GET /v1/user HTTP/1.1\r\n" + host + fields + b"\r\n",
             error="request header fields too large"),
        Case("501: Transfer-Encoding gzip", "POST", "/v1/user", 501,
             raw=b"POST /v1/user HTTP/1.1\r\n" + host +
             b"Transfer-Encoding: gzip\r\n\r\nxxxx",
             error="transfer coding not implemented"),
        Case("505: HTTP/9.9", "GET", "/v1/user", 505,
             raw=b"GET /v1/user HTTP/9.9\r\n" + host + b"\r\n",
             error="HTTP version not supported"),
    ]


def cors_cases():
    """--cors-origin https://app.example --admin-port P."""
    lst, rec, nope = "/v1/user", "/v1/user/3", "/v1/user/nope"
    vary = "Accept-Encoding, Origin"
    allow = {"Access-Control-Allow-Origin": ORIGIN,
             "Access-Control-Expose-Headers": "ETag, Location, Engine"}
    preflight = {"Access-Control-Allow-Origin": ORIGIN,
                 "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
                 "Access-Control-Allow-Headers":
                     "If-Match, If-None-Match, X-Request-Id, traceparent",
                 "Access-Control-Max-Age": "600", "Vary": "Origin"}
    o = [("Origin", ORIGIN)]
    other = [("Origin", "https://other.example")]
    return [
        Case("the list, its Origin", "GET", lst, 200, headers=o,
             expect=dict(allow, Vary=vary, ETag=STRONG_ETAG)),
        Case("the list, HEAD, its Origin", "HEAD", lst, 200, headers=o,
             expect=dict(allow, Vary=vary)),
        Case("the list, another Origin", "GET", lst, 200, headers=other,
             expect={"Vary": vary}, absent=CORS_ALL),
        Case("the list, no Origin", "GET", lst, 200, expect={"Vary": vary},
             absent=CORS_ALL),
        Case("the list, Origin twice", "GET", lst, 200, headers=o + o,
             expect={"Vary": vary}, absent=CORS_ALL),
        Case("a record, its Origin", "GET", rec, 200, headers=o,
             expect=dict(allow, Vary=vary)),
        Case("the list, its Origin, If-None-Match", "GET", lst, 304,
             headers=o + [("If-None-Match", etag(lst))],
             expect=dict(allow, Vary=vary), absent=NO_304_FIELDS),
        Case("the list, its Origin, If-Match another tag", "GET", lst, 412,
             headers=o + [("If-Match", '"0000000000000000"')], expect=allow),
        Case("an unknown record, its Origin", "GET", nope, 404, headers=o,
             expect=allow, error="user not found"),
        Case("DELETE the list, its Origin", "DELETE", lst, 405, headers=o,
             expect=allow),
        Case("preflight, the list", "OPTIONS", lst, 204,
             headers=o + [("Access-Control-Request-Method", "GET"),
                          ("Access-Control-Request-Headers",
                           "if-none-match")], expect=preflight),
        Case("preflight, a record", "OPTIONS", rec, 204,
             headers=o + [("Access-Control-Request-Method", "GET")],
             expect=preflight),
        Case("preflight, another Origin", "OPTIONS", lst, 204,
             headers=other + [("Access-Control-Request-Method", "GET")],
             absent=CORS_ALL),
        Case("/healthz, its Origin", "GET", "/healthz", 200, headers=o,
             absent=CORS_ALL),
        Case("OPTIONS /readyz, its Origin", "OPTIONS", "/readyz", 204,
             headers=o + [("Access-Control-Request-Method", "GET")],
             absent=CORS_ALL),
        Case("an unknown path, its Origin", "GET", "/nope", 404, headers=o,
             absent=CORS_ALL, error="not found"),
        Case("/metrics beside --admin-port", "GET", "/metrics", 404,
             error="not found"),
        Case("HEAD /metrics beside --admin-port", "HEAD", "/metrics", 404),
    ]


def relay_down_cases():
    """Relay mode, the upstream's port closed, --cors-origin."""
    o = [("Origin", ORIGIN)]
    allow = {"Access-Control-Allow-Origin": ORIGIN}
    return [
        Case("the list, upstream down", "GET", "/v1/user", 502, headers=o,
             expect=allow, error="upstream unreachable"),
        Case("/readyz, upstream down", "GET", "/readyz", 503),
        Case("HEAD /readyz, upstream down", "HEAD", "/readyz", 503),
        Case("the list, HEAD, upstream down", "HEAD", "/v1/user", 502),
        Case("a record, upstream down", "GET", "/v1/user/3", 502,
             error="upstream unreachable"),
        Case("a record, HEAD, upstream down", "HEAD", "/v1/user/3", 502),
        Case("OPTIONS the list, answered here", "OPTIONS", "/v1/user", 204),
        Case("preflight, answered here", "OPTIONS", "/v1/user/3", 204,
             headers=o + [("Access-Control-Request-Method", "GET")],
             expect=allow),
    ]


# ---------------------------------------------------------------------------
# Checking an answer against the document


def media_type(value):
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        if p:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"').lower()
    return parts[0].lower(), params


def header_value(value, schema):
    """A header's text as its schema's type."""
    if schema.get("type") == "integer" and re.fullmatch(r"\d+", value):
        return int(value)
    return value


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.covered = set()        # (template, METHOD, code) and
        self.ops = set()            # ("default", status); (template, M)
        self.failures = 0
        self.passes = 0

    def response_of(self, case, status, server):
        """The response object the answer is checked against, and errors."""
        doc = self.doc
        template, method = case.op or (doc.template_of(case.target),
                                       case.method)
        if template is None:
            if status != 404:
                return None, ["%d for an unknown path: only 404 is "
                              "documented (components/responses/NotFound)"
                              % status]
            self.covered.add(("unknown path", method, "404"))
            return doc.deref({"$ref": "#/components/responses/NotFound"}), []
        op = doc.paths[template].get(method.lower())
        if op is None:
            return None, ["%s %s is not a documented operation" %
                          (method, template)]
        self.ops.add((template, method))
        responses = op["responses"]
        if str(status) in responses:
            resp = doc.deref(responses[str(status)])
            self.covered.add((template, method, str(status)))
        elif "default" in responses:
            resp = doc.deref(responses["default"])
            if status not in resp.get("x-statuses", []):
                return None, ["%d is not documented for %s %s (nor among "
                              "its default's x-statuses)" %
                              (status, method, template)]
            self.covered.add(("default", status))
        else:
            return None, ["%d is not documented for %s %s" %
                          (status, method, template)]
        errors = []
        if resp.get("x-relay-only") and not server.relay:
            errors.append("%d is documented for relay mode only" % status)
        return resp, errors

    def check(self, case, resp, server):
        doc = self.doc
        errors = []
        if resp.status != case.status:
            errors.append("status %d, the case expects %d" %
                          (resp.status, case.status))
        r, errs = self.response_of(case, resp.status, server)
        errors += errs
        got = {}
        for name, value in resp.headers:
            got.setdefault(name.lower(), []).append(value)
        if r is not None:
            documented = {n.lower(): (n, doc.deref(h))
                          for n, h in r.get("headers", {}).items()}
            for name, (spelt, h) in documented.items():
                if name not in got:
                    if h.get("required"):
                        errors.append("no %s (required)" % spelt)
                    continue
                schema = doc.deref(h.get("schema", {}))
                for value in got[name]:
                    for e in doc.validate(header_value(value, schema),
                                          schema):
                        errors.append("%s: %r: %s" % (spelt, value, e))
            for name, value in resp.headers:
                if name.lower() not in documented and \
                        name.lower() not in GENERIC_HEADERS:
                    errors.append("%s: %r is not documented for this "
                                  "response" % (name, value))
            errors += self.check_content(case, resp, r, got)
        for name, want in case.expect.items():
            value = resp.get(name)
            if value is None:
                errors.append("no %s (the case expects it)" % name)
            elif isinstance(want, str):
                if value != want:
                    errors.append("%s: %r, expected %r" % (name, value, want))
            elif isinstance(want, re.Pattern):
                if not want.fullmatch(value):
                    errors.append("%s: %r does not match %s" %
                                  (name, value, want.pattern))
            elif not want(value, server):
                errors.append("%s: %r is not %s" % (name, value,
                                                    want.__doc__))
        # RFC 9110 8.6: a 304's Content-Length, if any, is its 200's.
        length = resp.get("Content-Length")
        if resp.status == 304 and length is not None and \
                server.lengths.get(resp.get("ETag"), length) != length:
            errors.append("Content-Length: %s on a 304, but %s on the 200 "
                          "with this ETag (RFC 9110 8.6)" %
                          (length, server.lengths[resp.get("ETag")]))
        for name in case.absent:
            if resp.get(name) is not None:
                errors.append("%s: %r, expected none" %
                              (name, resp.get(name)))
        return errors

    def check_content(self, case, resp, r, got):
        """The body and Content-Type against R's content."""
        doc = self.doc
        errors = []
        content = r.get("content")
        if not content:
            if resp.body:
                errors.append("a %d-byte body; none is documented" %
                              len(resp.body))
            return errors
        ctype = got.get("content-type", [None])[0]
        if ctype is None:
            return ["no Content-Type; documented: %s" % ", ".join(content)]
        media = None
        for key, m in content.items():
            if media_type(key) == media_type(ctype):
                media = doc.deref(m)
        if media is None:
            return ["Content-Type %r is none of the documented %s" %
                    (ctype, ", ".join(content))]
        if case.method == "HEAD":
            if resp.body:
                errors.append("a %d-byte body on HEAD" % len(resp.body))
            return errors
        body = resp.body
        if "gzip" in got.get("content-encoding", []):
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as e:
                return ["Content-Encoding gzip, but: %s" % e]
        if media_type(ctype)[0] == "application/json":
            try:
                instance = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                return ["the body is not JSON: %s" % e]
        else:
            try:
                instance = body.decode("utf-8")
            except UnicodeDecodeError as e:
                return ["the body is not UTF-8 text: %s" % e]
        schema = media.get("schema")
        if schema is not None:
            errors += ["body: " + e for e in doc.validate(instance, schema)]
        if case.error is not None and (not isinstance(instance, dict) or
                                       instance.get("error") != case.error):
            errors.append("body %s, the case expects error %r" %
                          (body[:80], case.error))
        return errors

    def report(self, server, case, errors, resp=None):
        what = "%s: %s %s -> %s (%s)" % (
            server.name, case.method, case.target if len(case.target) < 60
            else case.target[:40] + "...", case.status, case.name)
        if errors:
            self.failures += 1
            print("FAIL: %s" % what)
            for e in errors:
                print("      %s" % e)
            if resp is not None:
                print("      answer: %d %s" % (resp.status, "; ".join(
                    "%s: %s" % hv for hv in resp.headers)))
        else:
            self.passes += 1
            print("ok: %s" % what)

    def run(self, server, case):
        """Send CASE to SERVER and check the answer."""
        try:
            headers = [(n, v(server) if callable(v) else v)
                       for n, v in case.headers]
        except LookupError as e:
            self.report(server, case, [str(e)])
            return None
        try:
            if case.raw is not None:
                resp = raw_exchange(server.port, case.raw)
                if resp is None:
                    self.report(server, case, ["no HTTP answer"])
                    return None
            else:
                resp = http_request(server.port, case.method, case.target,
                                    headers)
        except (OSError, http.client.HTTPException) as e:
            self.report(server, case, ["no answer: %s" % e])
            return None
        if resp.status == 200 and resp.get("ETag") is not None:
            coding = "gzip" if resp.get("Content-Encoding") == "gzip" \
                else "identity"
            server.etags.setdefault((case.target, coding), resp.get("ETag"))
            server.lengths.setdefault(resp.get("ETag"),
                                      resp.get("Content-Length"))
        self.report(server, case, self.check(case, resp, server), resp)
        return resp

    def coverage(self):
        """Every operation and status of the document exercised."""
        missing = []
        for template, method in self.doc.operations():
            if (template, method) not in self.ops:
                missing.append("%s %s: never exercised" % (method, template))
                continue
            op = self.doc.paths[template][method.lower()]
            for code, resp in op["responses"].items():
                if code == "default":
                    for status in self.doc.deref(resp).get("x-statuses", []):
                        key = ("default", status)
                        if key not in self.covered and key not in EXCEPTIONS:
                            missing.append("default %d: never exercised" %
                                           status)
                elif (template, method, code) not in self.covered and \
                        (template, method, int(code)) not in EXCEPTIONS:
                    missing.append("%s %s %s: never exercised" %
                                   (method, template, code))
        for key, why in EXCEPTIONS.items():
            print("not exercised: %s (%s)" % (" ".join(map(str, key)), why))
        return sorted(set(missing))


# ---------------------------------------------------------------------------


def stall_cases(checker, server, upstream):
    """Relay to an upstream that never answers, one upstream connection
    and no queue: a request waits (504 after --upstream-timeout) while a
    second one is refused at once (503)."""
    seen = 0
    for method, target in (("GET", "/v1/user"), ("HEAD", "/v1/user"),
                           ("GET", "/v1/user/3"), ("HEAD", "/v1/user/3")):
        first = Case("upstream silent", method, target, 504)
        second = Case("while another waits", method, target, 503)
        if method == "GET":
            first.error = "upstream timed out"
            second.error = "upstream queue full"
        t = threading.Thread(target=checker.run, args=(server, first))
        t.start()
        seen += 1
        if upstream.wait_requests(seen):
            checker.run(server, second)
        else:
            checker.report(server, second,
                           ["the silent upstream got no request"])
        t.join()


def limit_case(checker, server):
    """--max-connections 1: one connection kept open, the next refused
    with the acceptor's 503 (checked against GET /healthz's answers)."""
    case = Case("a second connection", "GET", "/healthz", 503,
                error="too many connections",
                expect={"Retry-After": "1", "Connection": "close"})
    held = None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        held = http.client.HTTPConnection("127.0.0.1", server.port,
                                          timeout=TIMEOUT)
        try:
            held.request("GET", "/healthz")
            r = held.getresponse()
            r.read()
            if r.status == 200:
                break
        except (OSError, http.client.HTTPException):
            pass
        held.close()    # the readiness poll's connection not yet gone
        held = None
        time.sleep(0.1)
    if held is None:
        checker.report(server, case, ["no connection was let in"])
        return
    try:
        resp = raw_exchange(server.port, b"")
        if resp is None:
            checker.report(server, case, ["no HTTP answer"])
        else:
            checker.report(server, case, checker.check(case, resp, server),
                           resp)
    finally:
        held.close()


def main():
    ap = argparse.ArgumentParser(
        description="Check the built avatar-api against doc/openapi.yaml.")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    try:
        doc = Doc(args.doc)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        print("ERROR: cannot read %s: %s" % (args.doc, e))
        return 99
    checker = Checker(doc)
    errors = check_document(doc)
    for e in errors:
        print("FAIL: document: %s" % e)
    checker.failures += len(errors)
    if not errors:
        print("ok: document: every schema is a valid Draft 2020-12 schema, "
              "operationIds unique")

    tmpdir = tempfile.mkdtemp(prefix="tmp.contract.", dir=args.tmpdir)
    fx = ["--data", args.fixture]
    servers = []

    def start(name, extra, **kw):
        try:
            s = Server(name, args.bin, extra, tmpdir, **kw)
        except RuntimeError as e:
            print("FAIL: %s" % e)
            checker.failures += 1
            return None
        servers.append(s)
        print("started: %s on 127.0.0.1:%d (%s)" %
              (name, s.port, " ".join(extra)))
        return s

    def stop(s):
        if s is None:
            return
        status = s.stop()
        servers.remove(s)
        if status != 0:
            print("FAIL: %s: exit status %s after SIGTERM: %s" %
                  (s.name, status, s.stderr_tail()))
            checker.failures += 1


    silent = None
    try:
        epoll = start("epoll", fx)
        if epoll:
            for c in data_cases("Accept-Encoding") + framing_cases():
                checker.run(epoll, c)
        tpc = start("thread-per-connection",
                    fx + ["--mode", "thread-per-connection"])
        if tpc:
            for c in data_cases("Accept-Encoding") + framing_cases():
                checker.run(tpc, c)
        stop(tpc)
        if epoll:
            relay = start("relay", ["--upstream", "http://127.0.0.1:%d/v1/user"
                                    % epoll.port], relay=True)
            if relay:
                for c in data_cases("Accept-Encoding"):
                    checker.run(relay, c)
            stop(relay)
        stop(epoll)
        cors = start("cors", fx + ["--cors-origin", ORIGIN], admin=True)
        if cors:
            for c in cors_cases():
                checker.run(cors, c)
        stop(cors)
        down = start("relay-down",
                     ["--upstream", "http://127.0.0.1:%d/v1/user" %
                      free_port(), "--cors-origin", ORIGIN], relay=True)
        if down:
            for c in relay_down_cases():
                checker.run(down, c)
        stop(down)
        silent = SilentUpstream()
        stall = start("relay-stalled",
                      ["--upstream", "http://127.0.0.1:%d/v1/user" %
                       silent.port, "--upstream-timeout", "3",
                       "--upstream-connections", "1", "--upstream-queue",
                       "0"], relay=True)
        if stall:
            stall_cases(checker, stall, silent)
        stop(stall)
        limit = start("limit", fx + ["--max-connections", "1"])
        if limit:
            limit_case(checker, limit)
        stop(limit)
    finally:
        for s in list(servers):
            s.stop()
        if silent is not None:
            silent.close()
        for f in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)

    missing = checker.coverage()
    for m in missing:
        print("FAIL: coverage: %s" % m)
    if not missing:
        print("ok: coverage: every operation and status of the document "
              "exercised%s" % (" but the exceptions above" if EXCEPTIONS
                               else ""))
    failures = checker.failures + len(missing)
    print("contract: %d passed, %d failed" % (checker.passes, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

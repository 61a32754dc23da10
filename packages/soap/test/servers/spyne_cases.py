"""A case-management SOAP service built with spyne (an implementation nobody on the Ferry team wrote), for the
integration tests of @ferry/soap. SOAP 1.1 at /soap11 and SOAP 1.2 at /soap12 (each serves its WSDL at
?wsdl), page-number paging, faults of both kinds, a flaky mode; tests drive it through POST /control (JSON).

    python spyne_cases.py [--host 127.0.0.1] [--port 58080]
"""
import argparse
import json
import logging
import threading
from datetime import datetime, timezone
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from spyne import Application, ComplexModel, DateTime, Fault, Integer, Iterable, Unicode, rpc, ServiceBase
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

NS = "urn:ferry:spyne:cases"
PAGE_SIZE_DEFAULT = 3

STATE_LOCK = threading.Lock()
STATE = {"cases": [], "fault": None, "flaky_every": 0, "calls": 0, "page_size": PAGE_SIZE_DEFAULT}


class Case(ComplexModel):
    __namespace__ = NS
    CaseId = Unicode
    Title = Unicode
    Status = Unicode
    ModifiedAt = DateTime


def parse_instant(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def check_fault():
    fault = STATE["fault"]
    if fault == "server":
        raise Fault(faultcode="Server", faultstring="case database unavailable")
    if fault == "client":
        raise Fault(faultcode="Client", faultstring="since is not a date")


def to_case(c):
    return Case(CaseId=c["CaseId"], Title=c["Title"], Status=c["Status"], ModifiedAt=parse_instant(c["ModifiedAt"]))


class CaseService(ServiceBase):
    @rpc(DateTime, Integer, _returns=Iterable(Case))
    def GetChangedCases(ctx, since, page):
        with STATE_LOCK:
            check_fault()
            size = STATE["page_size"]
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=timezone.utc)
            changed = [c for c in STATE["cases"] if since is None or parse_instant(c["ModifiedAt"]) > since]
            changed.sort(key=lambda c: (parse_instant(c["ModifiedAt"]), c["CaseId"]))
            page = page or 1
            chosen = changed[(page - 1) * size : page * size]
        # A list, not a generator: spyne turns exceptions into faults only when they are raised by the call.
        return [to_case(c) for c in chosen]

    @rpc(Integer, _returns=Iterable(Case))
    def ListCases(ctx, page):
        with STATE_LOCK:
            check_fault()
            size = STATE["page_size"]
            ordered = sorted(STATE["cases"], key=lambda c: c["CaseId"])
            page = page or 1
            chosen = ordered[(page - 1) * size : page * size]
        # A list, not a generator: spyne turns exceptions into faults only when they are raised by the call.
        return [to_case(c) for c in chosen]


def soap_app(protocol):
    app = Application([CaseService], tns=NS, name="CaseService", in_protocol=protocol(validator="lxml"), out_protocol=protocol())
    return WsgiApplication(app)


SOAP11 = soap_app(Soap11)
SOAP12 = soap_app(Soap12)


def control(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    with STATE_LOCK:
        if "cases" in body:
            STATE["cases"] = body["cases"]
        if "add" in body:
            STATE["cases"].extend(body["add"])
        for key in ("fault", "flaky_every", "page_size"):
            if key in body:
                STATE[key] = body[key]
        if body.get("reset_calls"):
            STATE["calls"] = 0
        answer = json.dumps({"calls": STATE["calls"], "cases": len(STATE["cases"])}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


def dispatch(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if path == "/control" and environ["REQUEST_METHOD"] == "POST":
        return control(environ, start_response)
    if path in ("/soap11", "/soap12"):
        if environ["REQUEST_METHOD"] == "POST":
            with STATE_LOCK:
                STATE["calls"] += 1
                flaky = STATE["flaky_every"] and STATE["calls"] % STATE["flaky_every"] == 0
            if flaky:
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                start_response("503 Service Unavailable", [("Content-Type", "text/html"), ("Retry-After", "0")])
                return [b"<html><body>busy</body></html>"]
        return (SOAP11 if path == "/soap11" else SOAP12)(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=58080)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = make_server(options.host, options.port, dispatch, server_class=ThreadingServer, handler_class=QuietHandler)
    print(f"spyne case service on http://{options.host}:{options.port}/soap11 and /soap12", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

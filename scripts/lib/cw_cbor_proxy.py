#!/usr/bin/env python3
"""Test-harness proxy in front of moto: translates CloudWatch's Smithy RPC-v2 CBOR protocol
(which aws-sdk-cloudwatch >= 1.100 speaks) to the AWS JSON 1.0 protocol moto understands,
and the responses back. Every other request passes through untouched.

moto does not parse CloudWatch's CBOR protocol (getmoto/moto issue #9195, "not planned"); real AWS
accepts both, so the product keeps the current SDK and only the tests go through this.

Protocol facts used (Smithy "RPC v2 CBOR" and "AWS JSON 1.0" protocol specifications):
- CBOR requests: POST /service/<ServiceShape>/operation/<Operation>, header
  `smithy-protocol: rpc-v2-cbor`, body a CBOR map; timestamps are CBOR tag 1 (epoch seconds).
- JSON 1.0 requests: POST /, `X-Amz-Target: <ServiceShape>.<Operation>`, content type
  `application/x-amz-json-1.0`; timestamps are epoch-second numbers.
- Errors: a map with `__type` (and `message`) in both, with the HTTP status kept.

usage: cw_cbor_proxy.py LISTEN_PORT UPSTREAM_URL
"""
import base64
import datetime
import http.server
import json
import sys
import urllib.error
import urllib.request

import cbor2

UTC = datetime.timezone.utc
# Output members that are timestamps in CloudWatch's model (GetMetricData, GetMetricStatistics,
# DescribeAlarms...): lists named Timestamps, fields named *Timestamp, and the window fields.
TIME_KEYS = {"Timestamps", "StartTime", "EndTime"}
# Members that are doubles: JSON may give 5 for 5.0, CBOR must say float.
DOUBLE_KEYS = {"Values", "Value", "Average", "Sum", "Minimum", "Maximum", "SampleCount", "Threshold"}


def to_json(obj):
    """CBOR-decoded request -> JSON-encodable value."""
    if isinstance(obj, datetime.datetime):
        return obj.timestamp()
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(obj).decode()
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_json(v) for v in obj]
    return obj


def to_cbor(obj, key=None):
    """JSON-decoded response -> value whose timestamps and doubles CBOR encodes as the
    protocol wants."""
    if isinstance(obj, dict):
        return {k: to_cbor(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cbor(v, key) for v in obj]
    is_time = key is not None and (key in TIME_KEYS or key.endswith("Timestamp"))
    if is_time and isinstance(obj, (int, float)):
        return datetime.datetime.fromtimestamp(obj, UTC)
    if is_time and isinstance(obj, str):
        return datetime.datetime.fromisoformat(obj.replace("Z", "+00:00"))
    if key in DOUBLE_KEYS and isinstance(obj, int) and not isinstance(obj, bool):
        return float(obj)
    return obj


class Handler(http.server.BaseHTTPRequestHandler):
    upstream = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet; errors still go to stderr below
        pass

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method, path, headers, body):
        req = urllib.request.Request(self.upstream + path, data=body, method=method)
        for k, v in headers.items():
            if k.lower() not in ("host", "content-length", "connection", "accept-encoding"):
                req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        cbor = self.headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor"
        if not cbor:
            status, rh, rb = self._forward(self.command, self.path, headers, body or None)
            rh = {k: v for k, v in rh.items() if k.lower() not in ("content-length", "transfer-encoding", "connection")}
            return self._send(status, rh, rb)
        # /service/GraniteServiceVersion20100801/operation/GetMetricData
        parts = self.path.split("?")[0].strip("/").split("/")
        service, operation = parts[1], parts[3]
        payload = to_json(cbor2.loads(body)) if body else {}
        jheaders = {k: v for k, v in headers.items() if k.lower() not in ("smithy-protocol", "content-type", "accept")}
        jheaders["Content-Type"] = "application/x-amz-json-1.0"
        jheaders["X-Amz-Target"] = f"{service}.{operation}"
        status, rh, rb = self._forward("POST", "/", jheaders, json.dumps(payload).encode())
        try:
            data = json.loads(rb) if rb.strip() else {}
        except ValueError:
            data = {"__type": "InternalFailure", "message": rb.decode(errors="replace")[:500]}
        out = cbor2.dumps(to_cbor(data), datetime_as_timestamp=True, timezone=UTC)
        self._send(status, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, out)

    def do_POST(self):
        try:
            self._handle()
        except Exception as e:  # report, never hang the client
            sys.stderr.write(f"cw_cbor_proxy: {e!r}\n")
            self._send(500, {"Content-Type": "text/plain"}, str(e).encode())

    do_GET = do_POST
    do_PUT = do_POST
    do_DELETE = do_POST


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    Handler.upstream = upstream
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main()

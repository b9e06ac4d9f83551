#!/usr/bin/env python3
"""Verify an EM-format callback from notify-bridge (sorted-params, md5, lower-case hex).

Usage:
    python3 verify.py --secret SECRET REQUEST_FILE...
    python3 verify.py --secret-file FILE REQUEST_FILE...

A REQUEST_FILE holds the request as received: optional request line, header lines, one
blank line, then the body byte for byte (see docs/integrators/README.md). Exit status:
0 when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.

The body is {"appid", "request_data", "timestamp", "sign"} (EM's format). The
rule: take the top-level fields except `sign` (appid, request_data, timestamp), drop those
whose value is null or "", sort the keys by byte order, join them as k=v with & (values as
they are: request_data is its JSON text, not URL-encoded), append "&key=" + secret, md5 the
UTF-8 bytes, lower-case hex. Python standard library only.
"""
import hashlib
import hmac
import json
import sys
from urllib.parse import parse_qsl


class Num(str):
    """A JSON number, kept as the exact text it arrived in (0.10 stays 0.10)."""


def read_request(path):
    """(headers with lower-case names, body bytes) from a raw request file."""
    with open(path, "rb") as f:
        data = f.read()
    head, body = split_head(data)
    headers = {}
    for i, line in enumerate(head.decode("utf-8", "replace").splitlines()):
        name, colon, value = line.partition(":")
        if colon and name and not any(c.isspace() for c in name):
            headers[name.lower()] = value.strip()
        elif i > 0:
            raise ValueError("line %d is not a header" % (i + 1))
    return headers, body


def split_head(data):
    if data.startswith(b"\r\n"):
        return b"", data[2:]
    if data.startswith(b"\n"):
        return b"", data[1:]
    at = 0
    while True:
        at = data.find(b"\n", at)
        if at < 0:
            raise ValueError("no blank line between the headers and the body")
        rest = data[at + 1:]
        if rest.startswith(b"\r\n"):
            return data[:at], rest[2:]
        if rest.startswith(b"\n"):
            return data[:at], rest[1:]
        at += 1


def compact(value):
    """Compact JSON text, as the bridge writes a nested value."""
    if isinstance(value, Num):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(compact(v) for v in value) + "]"
    return "{" + ",".join(
        json.dumps(k, ensure_ascii=False) + ":" + compact(v) for k, v in value.items()
    ) + "}"


def fields(headers, body):
    text = body.decode("utf-8")
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        return dict(parse_qsl(text, keep_blank_values=True))
    parsed = json.loads(text, parse_float=Num, parse_int=Num)
    if not isinstance(parsed, dict):
        raise ValueError("the body is not a JSON object")
    return parsed


def string_to_sign(fields, secret):
    pairs = [
        (k, v if isinstance(v, str) else compact(v))
        for k, v in fields.items()
        if k != "sign" and v is not None and v != ""
    ]
    pairs.sort(key=lambda kv: kv[0].encode("utf-8"))
    return "&".join(k + "=" + v for k, v in pairs) + "&key=" + secret


def verify(path, secret):
    headers, body = read_request(path)
    f = fields(headers, body)
    given = f.get("sign")
    if not isinstance(given, str):
        return False, "no sign field"
    expected = hashlib.md5(string_to_sign(f, secret).encode("utf-8")).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8")):
        return False, "sign does not match"
    # Dispatch on request_data's notify_type once the signature holds.
    data = json.loads(f.get("request_data") or "{}")
    kind = data.get("notify_type", "-") if isinstance(data, dict) else "-"
    return True, "X-Notify-Id %s, notify_type %s" % (headers.get("x-notify-id", "-"), kind)


def main(argv):
    secret, files = None, []
    args = iter(argv)
    for arg in args:
        if arg == "--secret":
            secret = next(args, None)
        elif arg == "--secret-file":
            with open(next(args, ""), encoding="utf-8") as f:
                secret = f.read().rstrip("\r\n")
        else:
            files.append(arg)
    if not secret or not files:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    status = 0
    for path in files:
        try:
            ok, detail = verify(path, secret)
        except (OSError, ValueError) as e:
            print("%s: cannot read: %s" % (path, e))
            return 2
        print("%s: %s (%s)" % (path, "signature OK" if ok else "signature INVALID", detail))
        if not ok:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

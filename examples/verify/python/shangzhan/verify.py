#!/usr/bin/env python3
"""Verify a 商战网络-format callback from notify-bridge (sorted-chars md5).

Usage:
    python3 verify.py --secret SECRET REQUEST_FILE...
    python3 verify.py --secret-file FILE REQUEST_FILE...

A REQUEST_FILE holds the request as received: optional request line, header lines, one
blank line, then the body byte for byte (see docs/integrators/README.md). Exit status:
0 when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.

The rule (the seed's PHP getSign): decode the JSON body, remove `sign`, serialise the rest
exactly as PHP's json_encode($fields, 320) does, split that text into characters, sort
them by code point, join, append the secret, md5 the UTF-8 bytes, lower-case hex.
json_encode(…, 320) = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES: no spaces, Chinese
and "/" written as they are, numbers as PHP prints them. php_json() below reproduces it.
Python standard library only.
"""
import hashlib
import hmac
import json
import math
import sys
from decimal import Decimal


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


def php_json(value):
    """The text PHP's json_encode(json_decode($body, true), 320) prints for `value`."""
    if isinstance(value, Num):
        return php_number(str(value))
    if isinstance(value, str):
        return php_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(php_json(v) for v in value) + "]"
    # json_decode(.., true) makes objects PHP arrays: keys exactly "0".."n-1" in order
    # (and {}) come back out as a JSON list.
    if list(value.keys()) == [str(i) for i in range(len(value))]:
        return "[" + ",".join(php_json(v) for v in value.values()) + "]"
    return "{" + ",".join(php_string(k) + ":" + php_json(v) for k, v in value.items()) + "}"


ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def php_string(s):
    out = []
    for c in s:
        if c in ESCAPES:
            out.append(ESCAPES[c])
        elif c < " " or c in "\u2028\u2029":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def php_number(text):
    # An integer that fits PHP's int (64-bit) stays an integer; anything else is a float.
    if not any(c in text for c in ".eE"):
        n = int(text)
        if -(2**63) <= n < 2**63:
            return str(n)
    f = float(text)
    if math.isinf(f) or math.isnan(f):
        raise ValueError("number %s overflows a PHP float" % text)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    # repr() gives the shortest digits that read back to the same double, the nearest
    # such (David Gay's algorithm, as PHP's serialize_precision = -1 does).
    d = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, d.digits))
    decpt = len(digits) + d.exponent
    if decpt < -3 or decpt > 17:
        rest = digits[1:] or "0"
        return "%s%s.%se%s%d" % (sign, digits[0], rest, "+" if decpt > 0 else "-", abs(decpt - 1))
    if decpt <= 0:
        return sign + "0." + "0" * -decpt + digits
    if len(digits) <= decpt:
        return sign + digits + "0" * (decpt - len(digits))
    return sign + digits[:decpt] + "." + digits[decpt:]


def fields(headers, body):
    parsed = json.loads(body.decode("utf-8"), parse_float=Num, parse_int=Num)
    if not isinstance(parsed, dict):
        raise ValueError("the body is not a JSON object")
    return parsed


def string_to_sign(fields, secret):
    rest = {k: v for k, v in fields.items() if k != "sign"}
    return "".join(sorted(php_json(rest))) + secret


def verify(path, secret):
    headers, body = read_request(path)
    f = fields(headers, body)
    given = f.get("sign")
    if not isinstance(given, str):
        return False, "no sign field"
    expected = hashlib.md5(string_to_sign(f, secret).encode("utf-8")).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8")):
        return False, "sign does not match"
    return True, "X-Notify-Id %s, status %s" % (headers.get("x-notify-id", "-"), f.get("status"))


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

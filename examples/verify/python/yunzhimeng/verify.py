#!/usr/bin/env python3
"""Verify a 运之盟-format callback from notify-bridge (RSA) and decrypt its fields.

Usage:
    python3 verify.py --public-key BRIDGE_PUBLIC.pem --private-key YOUR_PRIVATE.pem \\
        [--decrypt /json/pointer]... [--oaep] [--max-age SECONDS] REQUEST_FILE...

A REQUEST_FILE holds the request as received: optional request line, header lines, one
blank line, then the body byte for byte (see docs/integrators/README.md). Exit status:
0 when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.

The rule: X-Signature is base64 of an RSA signature (SHA256withRSA, PKCS#1 v1.5) made with
our private key over X-Timestamp + X-Nonce + body, run together with nothing between them
and the body exactly as received. Verify it with our public key (ivs_public_key in seed
000's words). Only then decrypt each agreed field (--decrypt, a JSON pointer such as
/codePwd) with your private key (sign_secret_key): base64-decode, split into key-sized
blocks, decrypt each (PKCS#1 v1.5, or OAEP-SHA256 with --oaep), join, UTF-8.
Against replays, pass --max-age 300 and remember each X-Nonce for that long.
Needs the `cryptography` package (pip install cryptography).
"""
import base64
import binascii
import json
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


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


def pointer_get(doc, pointer):
    """The value at an RFC 6901 JSON pointer, or None."""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(token)
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return None
    return doc


def decrypt(private_key, text, pad):
    cipher = base64.b64decode("".join(text.split()), validate=True)
    block = private_key.key_size // 8
    if len(cipher) % block:
        raise ValueError("ciphertext is not a whole number of %d-byte blocks" % block)
    plain = b"".join(
        private_key.decrypt(cipher[i:i + block], pad) for i in range(0, len(cipher), block)
    )
    return plain.decode("utf-8")


def verify(path, public_key, private_key, pointers, pad, max_age):
    headers, body = read_request(path)
    for name in ("x-timestamp", "x-nonce", "x-signature"):
        if name not in headers:
            return False, "header %s is missing" % name
    signed = (headers["x-timestamp"] + headers["x-nonce"]).encode("utf-8") + body
    try:
        signature = base64.b64decode(headers["x-signature"], validate=True)
        public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error):
        return False, "X-Signature does not match"
    if max_age is not None:
        age = abs(time.time() * 1000 - int(headers["x-timestamp"])) / 1000
        if age > max_age:
            return False, "X-Timestamp is %.0f s away from now (a replay?)" % age
    lines = ["X-EventCode %s, X-Notify-Id %s" % (
        headers.get("x-eventcode", "-"), headers.get("x-notify-id", "-"))]
    doc = json.loads(body.decode("utf-8"))
    for pointer in pointers:
        value = pointer_get(doc, pointer)
        if isinstance(value, str):
            try:
                lines.append("%s = %s" % (pointer, decrypt(private_key, value, pad)))
            except ValueError as e:
                return False, "%s does not decrypt: %s" % (pointer, e)
    return True, "\n  ".join(lines)


def main(argv):
    public_key = private_key = max_age = None
    pointers, files = [], []
    pad = padding.PKCS1v15()
    args = iter(argv)
    try:
        for arg in args:
            if arg == "--public-key":
                with open(next(args, ""), "rb") as f:
                    public_key = serialization.load_pem_public_key(f.read())
            elif arg == "--private-key":
                with open(next(args, ""), "rb") as f:
                    private_key = serialization.load_pem_private_key(f.read(), password=None)
            elif arg == "--decrypt":
                pointers.append(next(args, ""))
            elif arg == "--oaep":
                pad = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
            elif arg == "--max-age":
                max_age = float(next(args, ""))
            else:
                files.append(arg)
    except (OSError, ValueError) as e:
        print("cannot load the arguments: %s" % e, file=sys.stderr)
        return 2
    if public_key is None or (pointers and private_key is None) or not files:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    status = 0
    for path in files:
        try:
            ok, detail = verify(path, public_key, private_key, pointers, pad, max_age)
        except (OSError, ValueError) as e:
            print("%s: cannot read: %s" % (path, e))
            return 2
        print("%s: %s (%s)" % (path, "signature OK" if ok else "signature INVALID", detail))
        if not ok:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

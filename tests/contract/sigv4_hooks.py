"""schemathesis hooks (scripts/contract.sh sets SCHEMATHESIS_HOOKS to this file): the operators'
routes (`/admin/…`) have API Gateway's IAM authorization, so the fuzzer signs each request to
them with SigV4 as the local operator (LocalStack's `test`/`test` key, as `donut-cli` does
against the local stack) and reaches the handler; every other route goes unsigned.

The signature is made over the request as `requests` prepared it (method, URL, body bytes),
following the SigV4 rules the local gateway verifies (crates/apigw/src/sigv4.rs): the path
normalized and URI-encoded once more, the query's pairs decoded, re-encoded and sorted, `host`
and `x-amz-date` signed, the body's SHA-256.
"""

import datetime
import hashlib
import hmac
import os
import urllib.parse

import requests
import schemathesis

ACCESS_KEY, SECRET_KEY = "test", "test"
REGION = os.environ.get("DONUT_CONTRACT_REGION", "eu-west-1")
SERVICE = "execute-api"
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def uri_encode(text: str, keep_slash: bool) -> str:
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in UNRESERVED or (keep_slash and char == "/"):
            out.append(char)
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def canonical_uri(path: str) -> str:
    path = path or "/"
    if "." in path or "//" in path or not path.startswith("/"):
        segments = []
        for segment in path.split("/"):
            if segment in ("", "."):
                continue
            if segment == "..":
                if segments:
                    segments.pop()
                continue
            segments.append(segment)
        normalized = "/" + "/".join(segments)
        if path.endswith(("/", "/.", "/..")) and not normalized.endswith("/"):
            normalized += "/"
        path = normalized
    return uri_encode(path, keep_slash=True)


def canonical_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        pairs.append(
            (
                uri_encode(urllib.parse.unquote_plus(key), False),
                uri_encode(urllib.parse.unquote_plus(value), False),
            )
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class SigV4(requests.auth.AuthBase):
    def __call__(self, request):
        url = urllib.parse.urlsplit(request.url)
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        request.headers["x-amz-date"] = amz_date
        host = url.netloc
        canonical = "\n".join(
            [
                request.method,
                canonical_uri(url.path),
                canonical_query(url.query),
                f"host:{host}",
                f"x-amz-date:{amz_date}",
                "",
                "host;x-amz-date",
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{day}/{REGION}/{SERVICE}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = sign(sign(sign(sign(("AWS4" + SECRET_KEY).encode(), day), REGION), SERVICE), "aws4_request")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
            f"SignedHeaders=host;x-amz-date, Signature={signature}"
        )
        return request


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.operation.path.startswith("/admin/"):
        kwargs["auth"] = SigV4()

"""FOR TESTS ONLY: AWS Signature Version 4 verification, as Garage v1.0.1 verifies S3 calls.

Written from Garage's `src/api/signature/payload.rs` (check_standard_signature,
Authorization::parse_header, canonical_request, verify_v4), `src/api/signature/mod.rs`
(signing_hmac, compute_scope) and `src/api/encoding.rs` (uri_encode), and from AWS's
"Signature Version 4 signing process" (header-based authentication for S3). The order of
the checks is Garage's, so the same request is refused for the same reason:

1. the Authorization header: `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
   Signature=...`; x-amz-content-sha256 and x-amz-date present; the date no more than 24 h
   old (Garage refuses nothing for a date in the future) → 400 InvalidRequest otherwise;
2. `host` and every `x-amz-*` header of the request among the signed headers → 400;
3. the scope `DATE/REGION/s3/aws4_request` for this node's `s3_region` → 400
   AuthorizationHeaderMalformed;
4. the access key known → 403 AccessDenied "No such key: ..." (Garage does not answer
   InvalidAccessKeyId);
5. the HMAC-SHA256 signature over the canonical request, compared in constant time → 403
   AccessDenied "Invalid signature" (Garage does not answer SignatureDoesNotMatch).

No request without a signature is served ("Garage does not support anonymous access yet").
Why not a library: Python has no maintained server-side SigV4 verifier; botocore's signer
derives its own signed-header set and timestamp, so it cannot check a signature it did not
make. The primitives (HMAC, SHA-256, constant-time comparison) are the standard library's.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
MAX_AGE = timedelta(hours=24)  # payload.rs, parse_header: "Date is too old"


class S3Error(Exception):
    """An S3 error answer: HTTP status, S3 error code, message as Garage words it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> S3Error:
    return S3Error(400, "InvalidRequest", f"Bad request: {message}")


def forbidden(message: str) -> S3Error:
    return S3Error(403, "AccessDenied", f"Forbidden: {message}")


def uri_encode(text: str) -> str:
    """Garage's uri_encode(_, encode_slash=true): all but A-Z a-z 0-9 - _ . ~ as %XX."""
    return quote(text, safe="-_.~")


def query_pairs(raw_query: str) -> dict[str, str]:
    """The query as Garage reads it (form-urlencoded); a repeated parameter is refused."""
    pairs: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        if key.lower() in {k.lower() for k in pairs}:
            raise bad_request(f"duplicate query parameter: `{key}`")
        pairs[key] = value
    return pairs


def signing_key(secret: str, date: datetime, region: str, service: str = "s3") -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date.strftime("%Y%m%d"), region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class Authorization:
    """The parsed Authorization header and the headers that go with it."""

    def __init__(self, headers: dict[str, str], now: datetime) -> None:
        value = headers.get("authorization", "")
        kind, sep, rest = value.partition(" ")
        if not sep:
            raise bad_request("Authorization field to short")
        if kind != ALGORITHM:
            raise bad_request("Unsupported authorization method")
        params: dict[str, str] = {}
        for part in rest.split(","):
            name, eq, field = part.strip().partition("=")
            if not eq:
                raise bad_request("Field without value in authorization header")
            params[name] = field
        for name in ("Credential", "SignedHeaders", "Signature"):
            if name not in params:
                raise bad_request(f"Could not find {name} in Authorization field")
        if "x-amz-content-sha256" not in headers:
            raise bad_request("Missing X-Amz-Content-Sha256 field")
        if "x-amz-date" not in headers:
            raise bad_request("Missing X-Amz-Date field")
        try:
            self.date = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=UTC
            )
        except ValueError:
            raise bad_request("Invalid date") from None
        if now - self.date > MAX_AGE:
            raise bad_request("Date is too old")
        key_id, slash, scope = params["Credential"].partition("/")
        if not slash:
            raise bad_request("Credentials does not contain '/' in authorization field")
        self.key_id, self.scope = key_id, scope
        self.signed_headers = sorted(params["SignedHeaders"].split(";"))
        self.signature = params["Signature"]
        self.content_sha256 = headers["x-amz-content-sha256"]


def canonical_request(
    method: str, raw_path: str, query: dict[str, str], headers: dict[str, str], auth: Authorization
) -> str:
    """S3's canonical request: the path as sent (S3 encodes it once and never normalises
    it), the query re-encoded and sorted, the signed headers' trimmed values."""
    items = sorted(f"{uri_encode(k)}={uri_encode(v)}" for k, v in query.items())
    lines = []
    for name in auth.signed_headers:
        if name not in headers:
            raise bad_request(f"signed header `{name}` is not present")
        lines.append(f"{name}:{headers[name].strip()}")
    return "\n".join(
        [method, raw_path, "&".join(items), "\n".join(lines), "", ";".join(auth.signed_headers),
         auth.content_sha256]
    )  # fmt: skip


def verify(
    method: str,
    raw_target: str,
    headers: dict[str, str],
    region: str,
    secret_of: dict[str, str],
    now: datetime | None = None,
) -> tuple[str, bytes | None]:
    """Check a request's signature; answer its access key id and the SHA-256 its body must
    have (None for UNSIGNED-PAYLOAD). ``headers`` are lower-cased names → first value;
    ``secret_of`` maps the known access key ids to their secrets."""
    raw_path, _, raw_query = raw_target.partition("?")
    query = query_pairs(raw_query)
    if any(k.lower() == "x-amz-algorithm" for k in query):
        # Presigned URLs: Garage accepts them; the platform's api never makes one.
        raise S3Error(501, "NotImplemented", "Unimplemented action: presigned URL (stand-in)")
    if "authorization" not in headers:
        raise forbidden("Garage does not support anonymous access yet")
    auth = Authorization(headers, now or datetime.now(UTC))
    if "host" not in auth.signed_headers:
        raise bad_request("Header `Host` should be signed")
    for name in headers:
        if name.startswith("x-amz-") and name not in auth.signed_headers:
            raise bad_request(f"Header `{name}` should be signed")
    canonical = canonical_request(method, raw_path, query, headers, auth)
    string_to_sign = "\n".join(
        [ALGORITHM, auth.date.strftime("%Y%m%dT%H%M%SZ"), auth.scope,
         hashlib.sha256(canonical.encode()).hexdigest()]
    )  # fmt: skip
    expected_scope = f"{auth.date.strftime('%Y%m%d')}/{region}/s3/aws4_request"
    if auth.scope != expected_scope:
        raise S3Error(
            400,
            "AuthorizationHeaderMalformed",
            f"Authorization header malformed, unexpected scope: {auth.scope}",
        )
    secret = secret_of.get(auth.key_id)
    if secret is None:
        raise forbidden(f"No such key: {auth.key_id}")
    wanted = hmac.new(
        signing_key(secret, auth.date, region), string_to_sign.encode(), hashlib.sha256
    ).digest()
    try:
        given = bytes.fromhex(auth.signature)
    except ValueError:
        raise forbidden("Invalid signature") from None
    if not hmac.compare_digest(wanted, given):
        raise forbidden("Invalid signature")
    if auth.content_sha256 == UNSIGNED_PAYLOAD:
        return auth.key_id, None
    if auth.content_sha256 == STREAMING_PAYLOAD:
        # Chunk-signed bodies (streaming.rs): botocore does not send them to S3.
        raise S3Error(501, "NotImplemented", "Unimplemented action: streaming payload (stand-in)")
    try:
        digest = bytes.fromhex(auth.content_sha256)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise bad_request("Invalid content sha256 hash")
    return auth.key_id, digest

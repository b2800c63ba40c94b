"""The api's Garage check (its /health): the credentials it reads, and an S3 HeadBucket
signed with them as boto3 signs it (upstream api/app/lib/garage/base.py; docs/stand-ins.md)."""

import hashlib
import hmac
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from standin import env, first_line, log


def garage_credentials(conn):
    """(access, secret): the garage row of system_api_keys decrypted with ENCRYPTION_KEY,
    else the environment's pair; ValueError when neither gives one."""
    key = env("ENCRYPTION_KEY")
    if conn is not None and key:
        try:
            from cryptography.fernet import Fernet

            with conn.cursor() as cur:
                cur.execute(
                    "SELECT encrypted_key FROM kg_api.system_api_keys WHERE provider = 'garage'"
                )
                row = cur.fetchone()
            conn.rollback()
            if row:
                plain = Fernet(key.encode()).decrypt(bytes(row[0])).decode()
                if ":" in plain:
                    access, secret = plain.split(":", 1)
                    return access, secret
                log("the stored garage credentials are not ACCESS:SECRET; trying the environment")
        except Exception as exc:  # unreadable or undecryptable: the api falls back likewise
            conn.rollback()
            log(f"garage credentials not read from kg_api.system_api_keys: {first_line(exc)}")
    access, secret = env("GARAGE_ACCESS_KEY_ID"), env("GARAGE_SECRET_ACCESS_KEY")
    if access and secret:
        return access, secret
    raise ValueError(
        "no Garage credentials: kg_api.system_api_keys has no readable 'garage' row and "
        "GARAGE_ACCESS_KEY_ID/GARAGE_SECRET_ACCESS_KEY are not set"
    )


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def head_bucket(endpoint, bucket, region, access, secret, timeout=2.0):
    """S3 HeadBucket, path style, signed with AWS Signature V4 (what boto3 sends); the
    HTTP status, or an OSError when nothing answers."""
    url = urllib.parse.urlsplit(endpoint)
    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    empty = hashlib.sha256(b"").hexdigest()
    path = "/" + urllib.parse.quote(bucket, safe="")
    headers = {"host": url.netloc, "x-amz-content-sha256": empty, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        ["HEAD", path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, empty]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(endpoint.rstrip("/") + path, method="HEAD")
    request.add_header("x-amz-content-sha256", empty)
    request.add_header("x-amz-date", stamp)
    request.add_header(
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def garage_component(conn):
    bucket = env("GARAGE_BUCKET", "kg-storage")
    try:
        access, secret = garage_credentials(conn)
    except ValueError as exc:
        return {"status": "unhealthy", "error": str(exc)}
    endpoint = env("GARAGE_S3_ENDPOINT", "http://localhost:3900")
    try:
        status = head_bucket(endpoint, bucket, env("GARAGE_REGION", "garage"), access, secret)
    except OSError as exc:
        return {"status": "unhealthy", "bucket": bucket, "error": f"{endpoint}: {first_line(exc)}"}
    if 200 <= status < 300:
        return {"status": "healthy", "bucket": bucket}
    return {"status": "unhealthy", "bucket": bucket, "error": f"HeadBucket answered {status}"}

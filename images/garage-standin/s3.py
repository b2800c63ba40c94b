"""FOR TESTS ONLY: the S3 API of the Garage stand-in (port 3900), for the keys and buckets
its admin API created.

What the platform's api calls (api/app/lib/garage/base.py, boto3 with a custom endpoint,
hence path-style addressing `http://garage:3900/BUCKET/KEY`): HeadBucket (health check and
ensure_bucket_exists), CreateBucket (only when HeadBucket said 404), PutObject, GetObject,
HeadObject, DeleteObject and ListObjectsV2 (paginated by prefix). Those are served; every
other S3 call answers 501 NotImplemented. Behaviour follows Garage v1.0.1:

- src/api/s3/api_server.rs (handle): signature first (sigv4.py), then CreateBucket, then
  the bucket by global alias (404 NoSuchBucket "Bucket not found: NAME"), then the key's
  permission on it — read for Get/Head/List, write for Put/Delete (403 AccessDenied
  "Operation is not allowed for this key.");
- src/api/s3/error.rs, xml.rs: errors are XML <Error><Code/><Message/><Resource/><Region/>;
- src/api/s3/put.rs (handle_put, get_headers) and checksum.rs: content-md5,
  x-amz-content-sha256 and one x-amz-checksum-* checked against the body (400
  InvalidDigest); Content-Type, Cache-Control, ... and x-amz-meta-* kept with the object;
- src/api/s3/get.rs (object_headers): Last-Modified, Accept-Ranges, ETag, the kept headers,
  the checksum when x-amz-checksum-mode is ENABLED; a missing key is 404 NoSuchKey;
- src/api/s3/delete.rs (handle_delete): 204, whether or not the key existed;
- src/api/s3/list.rs (handle_list): ListBucketResult, continuation tokens `]` + base64(key);
- src/api/s3/bucket.rs (handle_create_bucket): an existing bucket is 200 for a key that
  may write it, else 409 BucketAlreadyExists; a new one needs the key's createBucket
  permission (which no stand-in key has) → 403.

Objects live in data_dir (one file of data and one of metadata per object), so they
survive a restart like Garage's blocks do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import traceback
import zlib
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote
from xml.sax.saxutils import escape

from sigv4 import S3Error, bad_request, forbidden, query_pairs, uri_encode, verify

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
KEPT_HEADERS = ("content-type", "cache-control", "content-disposition", "content-encoding",
                "content-language", "expires")  # fmt: skip
CHECKSUMS = ("crc32", "crc32c", "sha1", "sha256")


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC32C = _crc32c_table()


def checksum(algo: str, data: bytes) -> bytes:
    if algo == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algo == "crc32c":
        crc = 0xFFFFFFFF
        for byte in data:
            crc = CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return (crc ^ 0xFFFFFFFF).to_bytes(4, "big")
    return hashlib.new(algo, data).digest()


def requested_checksum(headers: dict[str, str]) -> tuple[str, str] | None:
    """checksum.rs, request_checksum_value: at most one x-amz-checksum-* header."""
    given = [
        (a, headers[f"x-amz-checksum-{a}"]) for a in CHECKSUMS if f"x-amz-checksum-{a}" in headers
    ]
    if len(given) > 1:
        raise bad_request("multiple x-amz-checksum-* headers given")
    if not given:
        return None
    algo, value = given[0]
    size = {"crc32": 4, "crc32c": 4, "sha1": 20, "sha256": 32}[algo]
    try:
        if len(base64.b64decode(value, validate=True)) != size:
            raise ValueError
    except ValueError:
        raise bad_request(f"invalid x-amz-checksum-{algo} header") from None
    return algo, value


def verify_body(
    body: bytes, headers: dict[str, str], sha256: bytes | None
) -> tuple[str, str] | None:
    """checksum.rs, Checksums::verify: content-md5, x-amz-content-sha256, x-amz-checksum-*."""
    extra = requested_checksum(headers)
    md5 = headers.get("content-md5")
    if md5 is not None and base64.b64encode(hashlib.md5(body).digest()).decode() != md5.strip('"'):
        raise S3Error(
            400,
            "InvalidDigest",
            "Invalid digest: MD5 checksum verification failed (from content-md5)",
        )
    if sha256 is not None and hashlib.sha256(body).digest() != sha256:
        raise S3Error(400, "InvalidDigest", "Invalid digest: SHA256 checksum verification "
                      "failed (from x-amz-content-sha256)")  # fmt: skip
    if extra is not None:
        algo, value = extra
        if base64.b64encode(checksum(algo, body)).decode() != value:
            name = {"crc32": "Crc32", "crc32c": "Crc32c", "sha1": "Sha1", "sha256": "Sha256"}[algo]
            message = f"Invalid digest: Failed to validate checksum for algorithm {name}"
            raise S3Error(400, "InvalidDigest", message)
    return extra


class Objects:
    """The objects of each bucket, under data_dir/standin-s3/BUCKET_ID/."""

    def __init__(self, data_dir: str) -> None:
        self.root = Path(data_dir) / "standin-s3"

    def _paths(self, bucket_id: str, key: str) -> tuple[Path, Path]:
        name = hashlib.sha256(key.encode()).hexdigest()
        folder = self.root / bucket_id
        return folder / f"{name}.data", folder / f"{name}.json"

    def put(self, bucket_id: str, key: str, body: bytes, meta: dict[str, object]) -> None:
        data, info = self._paths(bucket_id, key)
        data.parent.mkdir(parents=True, exist_ok=True)
        for path, content in ((data, body), (info, json.dumps(meta).encode())):
            tmp = path.with_suffix(f".tmp-{secrets.token_hex(4)}")
            tmp.write_bytes(content)
            os.replace(tmp, path)

    def meta(self, bucket_id: str, key: str) -> dict[str, object] | None:
        try:
            found: dict[str, object] = json.loads(self._paths(bucket_id, key)[1].read_text())
        except (FileNotFoundError, ValueError):
            return None
        return found if found.get("key") == key else None

    def body(self, bucket_id: str, key: str) -> bytes:
        return self._paths(bucket_id, key)[0].read_bytes()

    def delete(self, bucket_id: str, key: str) -> None:
        data, info = self._paths(bucket_id, key)
        info.unlink(missing_ok=True)  # the metadata first: no object is seen half-deleted
        data.unlink(missing_ok=True)

    def keys(self, bucket_id: str) -> list[dict[str, object]]:
        found = []
        for info in (self.root / bucket_id).glob("*.json"):
            try:
                found.append(json.loads(info.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda m: str(m["key"]))


def rfc3339(msec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(msec // 1000)) + f".{msec % 1000:03d}Z"


def after_prefix(prefix: str) -> str:
    """The first string greater than every string that starts with ``prefix``."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return prefix + "\U0010ffff"


def listing(objects: Objects, bucket: str, bucket_id: str, query: dict[str, str]) -> str:
    """list.rs, handle_list with is_v2: a ListBucketResult page."""
    if query.get("list-type") != "2":
        raise bad_request(f"Invalid endpoint: list-type={query.get('list-type')}")
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter")
    try:
        page = max(1, min(1000, int(query.get("max-keys", "1000"))))
    except ValueError:
        raise bad_request("Invalid value for max-keys") from None
    encode = query.get("encoding-type") == "url"
    token, start_after = query.get("continuation-token"), query.get("start-after")
    begin, inclusive = start_after or "", False  # list from after (or at) this key
    if token is not None:
        try:
            if token[:1] not in ("[", "]"):
                raise ValueError
            begin = base64.b64decode(token[1:], validate=True).decode()
        except ValueError:
            raise bad_request("Invalid continuation token") from None
        inclusive = token[0] == "["

    def enc(text: str) -> str:
        return escape(uri_encode(text) if encode else text)  # uriencode_maybe: '/' too

    contents: list[dict[str, object]] = []
    prefixes: list[str] = []
    next_token, last_was_prefix = None, False
    for meta in objects.keys(bucket_id):
        key = str(meta["key"])
        if not key.startswith(prefix) or key < begin or (key == begin and not inclusive):
            continue
        common = None
        if delimiter and delimiter in key[len(prefix) :]:
            common = key[: key.index(delimiter, len(prefix)) + len(delimiter)]
            if prefixes and prefixes[-1] == common:
                continue
        if len(contents) + len(prefixes) == page:
            # Garage's tokens: "]" + base64(key) lists after that key; "[" + base64(key) from
            # it on (after a common prefix: from the first key past every key under it).
            if last_was_prefix:
                next_token = "[" + base64.b64encode(after_prefix(prefixes[-1]).encode()).decode()
            else:
                next_token = "]" + base64.b64encode(str(contents[-1]["key"]).encode()).decode()
            break
        if common is not None:
            prefixes.append(common)
        else:
            contents.append(meta)
        last_was_prefix = common is not None
    truncated = next_token is not None
    parts = [f'<ListBucketResult xmlns="{XMLNS}"><Name>{escape(bucket)}</Name>',
             f"<Prefix>{enc(prefix)}</Prefix>"]  # fmt: skip
    if start_after is not None:
        parts.append(f"<StartAfter>{enc(start_after)}</StartAfter>")
    if token is not None:
        parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
    if next_token is not None:
        parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
    parts.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>{page}</MaxKeys>")
    if delimiter is not None:
        parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
    if encode:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{str(truncated).lower()}</IsTruncated>")
    for meta in contents:
        parts.append(
            f"<Contents><Key>{enc(str(meta['key']))}</Key>"
            f"<LastModified>{rfc3339(int(meta['modified']))}</LastModified>"  # type: ignore[call-overload]
            f"<Size>{meta['size']}</Size><ETag>&quot;{meta['etag']}&quot;</ETag>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    parts += [f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in prefixes]
    return '<?xml version="1.0" encoding="UTF-8"?>' + "".join(parts) + "</ListBucketResult>"


def s3_handler(
    snapshot: Callable[[], dict], region: str, data_dir: str
) -> type[BaseHTTPRequestHandler]:
    """``snapshot()`` gives the admin API's state (keys, buckets) as it is now."""
    objects = Objects(data_dir)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and "100 Continue" for boto3's PUTs

        def send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.partition("?")[0]
            try:
                try:
                    answer = self.answer(body)
                except UnicodeDecodeError as exc:
                    raise S3Error(400, "InvalidRequest", f"Invalid UTF-8: {exc}") from None
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    traceback.print_exc()
                    raise S3Error(500, "InternalError", f"Internal error: {exc}") from None
                self.send(*answer)
            except S3Error as exc:
                xml = ('<?xml version="1.0" encoding="UTF-8"?><Error>'
                       f"<Code>{exc.code}</Code><Message>{escape(exc.message)}</Message>"
                       f"<Resource>{escape(path)}</Resource><Region>{escape(region)}</Region>"
                       "</Error>")  # fmt: skip
                self.send(exc.status, {"Content-Type": "application/xml"}, xml.encode())

        def answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            headers = {k.lower(): v for k, v in reversed(self.headers.items())}  # first wins
            if "host" not in headers:
                raise bad_request("Host header required")
            raw_path, _, raw_query = self.path.partition("?")
            bucket, _, key = raw_path.lstrip("/").partition("/")
            key = unquote(key.lstrip("/"), errors="strict")
            query = query_pairs(raw_query)
            state = snapshot()
            secret_of = {kid: k["secret"] for kid, k in state["keys"].items()}
            key_id, sha256 = verify(self.command, self.path, headers, region, secret_of)
            if not bucket:
                raise S3Error(501, "NotImplemented", "Unimplemented action: ListBuckets")
            found = next((bid for bid, b in state["buckets"].items()
                          if bucket in b["globalAliases"]), None)  # fmt: skip
            perms = {"read": False, "write": False, "owner": False}
            if found is not None:
                entry = next((k for k in state["buckets"][found]["keys"]
                              if k["accessKeyId"] == key_id), None)  # fmt: skip
                perms = entry["permissions"] if entry else perms
            if self.command == "PUT" and not key and not query:
                return self.create_bucket(body, sha256, key_id, found, perms)
            if found is None:
                raise S3Error(404, "NoSuchBucket", f"Bucket not found: {bucket}")
            action, need = self.endpoint(key, query, headers)
            if not perms[need]:
                raise forbidden("Operation is not allowed for this key.")
            if action == "PutObject":
                extra = verify_body(body, headers, sha256)
                kept = [[n, headers[n]] for n in KEPT_HEADERS if n in headers]
                kept += sorted([n, v] for n, v in headers.items() if n.startswith("x-amz-meta-"))
                meta = {"key": key, "size": len(body), "etag": hashlib.md5(body).hexdigest(),
                        "modified": int(time.time() * 1000), "checksum": extra,
                        "headers": kept}  # fmt: skip
                objects.put(found, key, body, meta)
                reply = {"x-amz-version-id": secrets.token_hex(32), "ETag": f'"{meta["etag"]}"'}
                if extra:
                    reply[f"x-amz-checksum-{extra[0]}"] = extra[1]
                return 200, reply, b""
            if action == "DeleteObject":
                objects.delete(found, key)
                return 204, {}, b""
            if action == "ListObjectsV2":
                xml = listing(objects, bucket, found, query)
                return 200, {"Content-Type": "application/xml"}, xml.encode()
            if action == "HeadBucket":
                return 200, {}, b""
            meta = objects.meta(found, key)
            if meta is None:
                raise S3Error(404, "NoSuchKey", "Key not found")
            reply = {"Last-Modified": formatdate(int(meta["modified"]) / 1000, usegmt=True),  # type: ignore[call-overload]
                     "Accept-Ranges": "bytes", "ETag": f'"{meta["etag"]}"'}  # fmt: skip
            for name, value in meta["headers"]:  # type: ignore[attr-defined]
                reply[name] = value
            if meta.get("checksum") and headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
                algo, value = meta["checksum"]  # type: ignore[misc]
                reply[f"x-amz-checksum-{algo}"] = value
            data = objects.body(found, key)  # HeadObject: its length, no body (send)
            return 200, reply, data

        def endpoint(
            self, key: str, query: dict[str, str], headers: dict[str, str]
        ) -> tuple[str, str]:
            """router.rs (Endpoint::from_request) and authorization_type, for what is served."""
            method = self.command
            if not key and method == "HEAD":
                return "HeadBucket", "read"
            if not key and method == "GET" and "list-type" in query:
                return "ListObjectsV2", "read"
            if key and not query.keys() & {"uploadId", "partNumber", "uploads", "tagging", "acl"}:
                if method == "GET":
                    return "GetObject", "read"
                if method == "HEAD":
                    return "HeadObject", "read"
                if method == "PUT" and "x-amz-copy-source" not in headers:
                    return "PutObject", "write"
                if method == "DELETE":
                    return "DeleteObject", "write"
            raise S3Error(501, "NotImplemented",
                          f"Unimplemented action: {method} {'object' if key else 'bucket'} "
                          f"{'&'.join(sorted(query)) or '(no query)'} (stand-in)")  # fmt: skip

        def create_bucket(
            self, body: bytes, sha256: bytes | None, key_id: str, found: str | None, perms: dict
        ) -> tuple[int, dict[str, str], bytes]:
            if sha256 is not None and hashlib.sha256(body).digest() != sha256:
                raise bad_request("Request content hash does not match signed hash")
            if found is None:
                raise forbidden(f"Access key {key_id} is not allowed to create buckets")
            if not (perms["write"] or perms["owner"]):
                raise S3Error(409, "BucketAlreadyExists", "Bucket already exists")
            return 200, {"Location": self.path.partition("?")[0]}, b""

        def do_GET(self) -> None:  # noqa: N802
            self.serve()

        do_HEAD = do_PUT = do_DELETE = do_POST = do_GET  # noqa: N815

        def log_message(self, fmt: str, *args: object) -> None:
            print(f"INFO garage_api::generic_server: S3 {fmt % args}", flush=True)

    return Handler

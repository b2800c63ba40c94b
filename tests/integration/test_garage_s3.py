"""The Garage stand-in's S3 API (port 3900), spoken to as the platform's api speaks to it.

After ``kgop garage init`` (bucket and key made through the admin API), boto3 with the key
kgop created reads and writes the bucket; what Garage v1.0.1 refuses is refused with its
status, S3 code and message (src/api/signature/payload.rs, src/api/s3/api_server.rs,
src/api/common_error.rs): a wrong secret or an unknown key is 403 AccessDenied (Garage never
answers SignatureDoesNotMatch or InvalidAccessKeyId), a scope for another region is 400
AuthorizationHeaderMalformed, a bucket the key may not use is 403 AccessDenied, a missing one
404 NoSuchBucket. Last, the platform's own Garage client (api/app/lib/garage/base.py of the
0.17.1 archive) finds the stand-in healthy and stores, lists and deletes through it.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from tests.integration import test_garage as base
from tests.support.engines import wait_for
from tests.support.helpers import import_file, run_kgop
from tests.support.platform import release_tree

boto3 = pytest.importorskip("boto3")
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from kgop_tui.settings import GARAGE_BUCKET  # noqa: E402

# The fixtures of the admin API's tests: a network, a stand-in node, kgop's env for it.
network, garage, env = base.network, base.garage, base.env
BUCKET = GARAGE_BUCKET  # the bucket `kgop garage init` makes (compose gives the api the same)
ONCE = Config(retries={"max_attempts": 1})


def admin_key(node: base.Garage) -> dict[str, Any]:
    status, key = node.api("GET", "/v1/key?search=kg-api&showSecretKey=true")
    assert status == 200, key
    assert isinstance(key, dict)
    return key


def s3(node: base.Garage, key_id: str, secret: str, region: str = "garage") -> Any:
    return boto3.client(
        "s3", endpoint_url=node.s3_url, aws_access_key_id=key_id, aws_secret_access_key=secret,
        region_name=region, config=ONCE,
    )  # fmt: skip


def refusal(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    answer = refused.value.response
    error = answer["Error"]
    return answer["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error.get("Message", "")


def signed(
    node: base.Garage, method: str, path: str, key: dict[str, Any], region: str = "garage",
    body: bytes = b"", when: datetime | None = None, sent: bytes | None = None,
) -> tuple[int, str]:  # fmt: skip
    """A request signed by botocore's own signer, sent as is (no retry, no redirect); with
    ``sent``, another body than the one signed."""
    request = AWSRequest(method=method, url=node.s3_url + path, data=body)
    signer = S3SigV4Auth(Credentials(key["accessKeyId"], key["secretAccessKey"]), "s3", region)
    if when is None:
        signer.add_auth(request)
    else:  # botocore stamps "now": sign as of another time
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        to_sign = signer.string_to_sign(request, canonical)
        signer._inject_signature_to_request(request, signer.signature(to_sign, request))
    prepared = request.prepare()
    sent = urllib.request.Request(
        prepared.url, data=(prepared.body if sent is None else sent) or None, method=method,
        headers={k: v for k, v in prepared.headers.items() if k.lower() != "content-length"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def ready(env: dict[str, str], garage: base.Garage) -> dict[str, Any]:
    """``kgop garage init`` done: the key kgop made for the api, with its secret."""
    done = run_kgop("garage", "init", env=env)
    assert done.returncode == 0, done.stderr
    return admin_key(garage)


def test_the_key_kgop_made_reads_and_writes_the_bucket(
    garage: base.Garage, ready: dict[str, Any]
) -> None:
    client = s3(garage, ready["accessKeyId"], ready["secretAccessKey"])
    assert client.head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200
    put = client.put_object(
        Bucket=BUCKET, Key="images/a b/ü.json", Body=b'{"x": 1}',
        ContentType="application/json", Metadata={"ontology": "demo"},
    )  # fmt: skip
    md5 = hashlib.md5(b'{"x": 1}').hexdigest()
    assert put["ETag"] == f'"{md5}"'  # Garage's ETag: the MD5 of the body
    for i in range(5):
        client.put_object(Bucket=BUCKET, Key=f"projections/{i}.json", Body=b"x" * i)
    got = client.get_object(Bucket=BUCKET, Key="images/a b/ü.json")
    assert got["Body"].read() == b'{"x": 1}'
    assert (got["ContentType"], got["Metadata"]) == ("application/json", {"ontology": "demo"})
    assert client.head_object(Bucket=BUCKET, Key="projections/3.json")["ContentLength"] == 3
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="projections/", PaginationConfig={"PageSize": 2}
    )
    listed = [(o["Key"], o["Size"]) for page in pages for o in page.get("Contents", [])]
    assert listed == [(f"projections/{i}.json", i) for i in range(5)]
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    folders = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert folders == ["images/", "projections/"]
    assert client.delete_object(Bucket=BUCKET, Key="projections/3.json")[
        "ResponseMetadata"
    ]["HTTPStatusCode"] == 204  # fmt: skip
    assert refusal(lambda: client.get_object(Bucket=BUCKET, Key="projections/3.json"))[:2] == (
        404, "NoSuchKey",
    )  # fmt: skip
    # Garage answers 204 for a key that is not there too.
    client.delete_object(Bucket=BUCKET, Key="projections/3.json")
    # Objects are on the data volume: a restart keeps them.
    base.docker(garage.engine, "restart", "-t", "2", garage.container)
    wait_for(lambda: _answers(garage), 30, "the stand-in's S3 API after a restart")
    again = client.get_object(Bucket=BUCKET, Key="projections/4.json")
    assert again["Body"].read() == b"xxxx"


def _answers(node: base.Garage) -> bool:
    try:
        urllib.request.urlopen(node.s3_url + "/", timeout=2)
    except urllib.error.HTTPError:
        return True  # refused (anonymous): it is up
    except OSError:
        return False
    return True


def test_what_garage_refuses_is_refused_with_its_codes(
    garage: base.Garage, ready: dict[str, Any]
) -> None:
    key_id, secret = ready["accessKeyId"], ready["secretAccessKey"]
    wrong_secret = s3(garage, key_id, "0" * 64)
    assert refusal(lambda: wrong_secret.head_bucket(Bucket=BUCKET))[:2] == (403, "403")
    assert refusal(lambda: wrong_secret.list_objects_v2(Bucket=BUCKET)) == (
        403, "AccessDenied", "Forbidden: Invalid signature",
    )  # fmt: skip
    unknown = s3(garage, "GK" + "0" * 24, secret)
    assert refusal(lambda: unknown.list_objects_v2(Bucket=BUCKET)) == (
        403, "AccessDenied", f"Forbidden: No such key: GK{'0' * 24}",
    )  # fmt: skip
    client = s3(garage, key_id, secret)
    assert refusal(lambda: client.list_objects_v2(Bucket="no-such-bucket")) == (
        404, "NoSuchBucket", "Bucket not found: no-such-bucket",
    )  # fmt: skip
    assert refusal(lambda: client.head_bucket(Bucket="no-such-bucket"))[:2] == (404, "404")
    # A bucket the key was never allowed on, then the api's bucket once write is denied.
    status, other = garage.api("POST", "/v1/bucket", {"globalAlias": "someone-else"})
    assert status == 200
    not_allowed = (403, "AccessDenied", "Forbidden: Operation is not allowed for this key.")
    assert refusal(lambda: client.list_objects_v2(Bucket="someone-else")) == not_allowed
    assert refusal(lambda: client.create_bucket(Bucket="someone-else"))[:2] == (
        409, "BucketAlreadyExists",
    )  # fmt: skip
    assert refusal(lambda: client.create_bucket(Bucket="brand-new"))[:2] == (403, "AccessDenied")
    _, bucket = garage.api("GET", f"/v1/bucket?globalAlias={BUCKET}")
    status, _ = garage.api("POST", "/v1/bucket/deny", {
        "bucketId": bucket["id"], "accessKeyId": key_id, "permissions": {"write": True},  # type: ignore[index]
    })  # fmt: skip
    assert status == 200
    assert refusal(lambda: client.put_object(Bucket=BUCKET, Key="k", Body=b"1")) == not_allowed
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0  # reading is still allowed
    assert isinstance(other, dict)


def test_signatures_are_checked_as_garage_checks_them(
    garage: base.Garage, ready: dict[str, Any]
) -> None:
    path = f"/{BUCKET}?list-type=2"
    assert signed(garage, "GET", path, ready)[0] == 200
    status, body = signed(garage, "GET", path, ready, region="us-east-1")
    assert status == 400
    assert "<Code>AuthorizationHeaderMalformed</Code>" in body
    assert "<Region>garage</Region>" in body  # from which boto3 learns the region and retries
    other_region = s3(garage, ready["accessKeyId"], ready["secretAccessKey"], "us-east-1")
    assert other_region.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0  # after that retry
    assert refusal(lambda: other_region.head_bucket(Bucket="no-such-bucket"))[:2] == (400, "400")
    old = datetime.now(UTC) - timedelta(hours=25)
    status, body = signed(garage, "GET", path, ready, when=old)
    assert (status, "<Message>Bad request: Date is too old</Message>" in body) == (400, True)
    # The body must be the one whose hash was signed.
    status, body = signed(
        garage, "PUT", f"/{BUCKET}/k", ready, body=b"signed", sent=b"swapped"
    )  # fmt: skip
    assert status == 400
    assert "<Code>InvalidDigest</Code>" in body
    assert "SHA256 checksum verification failed (from x-amz-content-sha256)" in body
    assert signed(garage, "PUT", f"/{BUCKET}/k", ready, body=b"signed")[0] == 200
    # A tampered query after signing.
    request = AWSRequest(method="GET", url=garage.s3_url + path)
    creds = Credentials(ready["accessKeyId"], ready["secretAccessKey"])
    S3SigV4Auth(creds, "s3", "garage").add_auth(request)
    prepared = request.prepare()
    tampered = urllib.request.Request(
        prepared.url + "&prefix=secret", method="GET", headers=dict(prepared.headers)
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403
    assert "Forbidden: Invalid signature" in refused.value.read().decode()
    # No signature at all.
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(garage.s3_url + path, timeout=10)
    assert anonymous.value.code == 403
    assert "Garage does not support anonymous access yet" in anonymous.value.read().decode()


def platform_garage_client() -> ModuleType:
    """api/app/lib/garage/base.py of the platform's 0.17.1 release, imported on its own."""
    path = release_tree("0.17.1") / "api" / "app" / "lib" / "garage" / "base.py"
    return import_file(path, "kg_platform_garage_base")


def test_the_platforms_own_garage_client_is_healthy_and_stores(
    garage: base.Garage, ready: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As compose gives them to the api (GARAGE_S3_ENDPOINT, GARAGE_REGION, GARAGE_BUCKET);
    # the credentials from the environment, its fallback when its key store is not there.
    for name, value in {
        "GARAGE_S3_ENDPOINT": garage.s3_url, "GARAGE_REGION": "garage", "GARAGE_BUCKET": BUCKET,
        "GARAGE_ACCESS_KEY_ID": ready["accessKeyId"],
        "GARAGE_SECRET_ACCESS_KEY": ready["secretAccessKey"],
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    logging.getLogger("kg_platform_garage_base").setLevel(logging.ERROR)
    client = platform_garage_client().GarageBaseClient()
    client.ensure_bucket_exists()  # HeadBucket 200: nothing to create
    assert client.health_check() is True
    client.put_object("sources/doc 1.txt", b"text", "text/plain", {"source": "test"})
    assert client.get_object("sources/doc 1.txt") == b"text"
    head = client.head_object("sources/doc 1.txt")
    assert (head["size"], head["content_type"], head["metadata"]) == (
        4, "text/plain", {"source": "test"},
    )  # fmt: skip
    assert [o["key"] for o in client.list_objects("sources/")] == ["sources/doc 1.txt"]
    assert client.delete_by_prefix("sources/") == ["sources/doc 1.txt"]
    assert client.get_object("sources/doc 1.txt") is None
    assert client.head_object("sources/doc 1.txt") is None
    # A GARAGE_REGION other than garage.toml's s3_region: HeadBucket is 400 (no body, so
    # boto3 cannot learn the region as it does from a GET's error): the api is unhealthy.
    monkeypatch.setenv("GARAGE_REGION", "us-east-1")
    assert platform_garage_client().GarageBaseClient().health_check() is False
    monkeypatch.setenv("GARAGE_REGION", "garage")
    monkeypatch.setenv("GARAGE_SECRET_ACCESS_KEY", "not-the-secret")
    assert platform_garage_client().GarageBaseClient().health_check() is False

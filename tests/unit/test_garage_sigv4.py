"""The Garage stand-in's SigV4 check (images/garage-standin/sigv4.py) against AWS's own
published examples ("Signature Calculations for the Authorization Header", Amazon S3 API
reference: GET Object with a Range, GET Bucket lifecycle, GET Bucket list), and what it
refuses, with Garage v1.0.1's codes (src/api/signature/payload.rs). botocore signs every
request of the integration tests; these examples were signed by no code of this project."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.helpers import import_file

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
NOW = datetime(2013, 5, 24, 1, 0, tzinfo=UTC)
EXAMPLES = [  # request target, extra signed headers, signature AWS published
    ("/test.txt", {"range": "bytes=0-9"},
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ("/?lifecycle", {}, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ("/?max-keys=2&prefix=J", {},
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
]  # fmt: skip


@pytest.fixture(scope="module")
def sigv4() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "images" / "garage-standin" / "sigv4.py"
    return import_file(path, "garage_standin_sigv4")


def headers(extra: dict[str, str], signature: str, region: str = "us-east-1") -> dict[str, str]:
    found = {"host": "examplebucket.s3.amazonaws.com", "x-amz-content-sha256": EMPTY,
             "x-amz-date": "20130524T000000Z", **extra}  # fmt: skip
    signed = ";".join(sorted(found))
    found["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={KEY}/20130524/{region}/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}"
    )
    return found


@pytest.mark.parametrize(("target", "extra", "signature"), EXAMPLES)
def test_awss_published_examples_verify(
    sigv4: ModuleType, target: str, extra: dict[str, str], signature: str
) -> None:
    key, sha256 = sigv4.verify("GET", target, headers(extra, signature), "us-east-1",
                               {KEY: SECRET}, now=NOW)  # fmt: skip
    assert key == KEY
    assert sha256 == bytes.fromhex(EMPTY)


def refusal(sigv4: ModuleType, target: str, given: dict[str, str], **kw: object) -> tuple:
    with pytest.raises(sigv4.S3Error) as refused:
        sigv4.verify("GET", target, given, kw.get("region", "us-east-1"),
                     kw.get("secrets", {KEY: SECRET}), now=kw.get("now", NOW))  # fmt: skip
    return refused.value.status, refused.value.code, refused.value.message


def test_what_garage_refuses(sigv4: ModuleType) -> None:
    target, extra, signature = EXAMPLES[0]
    good = headers(extra, signature)
    invalid = (403, "AccessDenied", "Forbidden: Invalid signature")
    assert refusal(sigv4, target, {**good, "range": "bytes=0-99"}) == invalid
    assert refusal(sigv4, "/test.txt?x=1", good) == invalid
    assert refusal(sigv4, target, good, secrets={KEY: SECRET + "x"}) == invalid
    assert refusal(sigv4, target, headers(extra, "zz")) == invalid
    assert refusal(sigv4, target, good, secrets={}) == (
        403, "AccessDenied", f"Forbidden: No such key: {KEY}",
    )  # fmt: skip
    assert refusal(sigv4, target, good, region="garage") == (
        400, "AuthorizationHeaderMalformed",
        "Authorization header malformed, unexpected scope: 20130524/us-east-1/s3/aws4_request",
    )  # fmt: skip
    late = datetime(2013, 5, 25, 0, 0, 1, tzinfo=UTC)
    assert refusal(sigv4, target, good, now=late) == (
        400, "InvalidRequest", "Bad request: Date is too old",
    )  # fmt: skip
    assert refusal(sigv4, target, {**good, "x-amz-meta-a": "1"})[:2] == (400, "InvalidRequest")
    assert "should be signed" in refusal(sigv4, target, {**good, "x-amz-meta-a": "1"})[2]
    anonymous = {k: v for k, v in good.items() if k != "authorization"}
    assert refusal(sigv4, target, anonymous) == (
        403, "AccessDenied", "Forbidden: Garage does not support anonymous access yet",
    )  # fmt: skip
    no_hash = {k: v for k, v in good.items() if k != "x-amz-content-sha256"}
    assert refusal(sigv4, target, no_hash)[2] == "Bad request: Missing X-Amz-Content-Sha256 field"
    assert refusal(sigv4, "/?a=1&a=2", good)[2] == "Bad request: duplicate query parameter: `a`"

import base64
import hashlib
import re

import pytest

from spyglass.auth.api_keys import (
    Credentials,
    display_secret,
    generate_key_pair,
    hash_secret,
    parse_authorization,
    verify_secret,
)
from spyglass.domain.errors import Unauthorized

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


def test_generated_keys_have_langfuse_format_and_differ():
    pk, sk = generate_key_pair()
    assert re.fullmatch(f"pk-lf-{UUID4}", pk)
    assert re.fullmatch(f"sk-lf-{UUID4}", sk)
    assert generate_key_pair() != (pk, sk)


def test_hash_secret_is_langfuse_fast_hash():
    salt_hex = hashlib.sha256(b"salt").hexdigest()
    expected = hashlib.sha256(("sk-lf-1234567890" + salt_hex).encode()).hexdigest()
    assert hash_secret("sk-lf-1234567890", "salt") == expected


def test_hash_secret_depends_on_salt_and_secret():
    assert hash_secret("sk", "a") != hash_secret("sk", "b")
    assert hash_secret("sk1", "a") != hash_secret("sk2", "a")


def test_verify_secret():
    hashed = hash_secret("sk-lf-x", "salt")
    assert verify_secret("sk-lf-x", "salt", hashed)
    assert not verify_secret("sk-lf-y", "salt", hashed)
    assert not verify_secret("sk-lf-x", "other", hashed)


def test_display_secret():
    assert display_secret("sk-lf-1234567890") == "sk-lf-...7890"


def test_parse_basic():
    creds = parse_authorization(basic("pk-lf-1:sk-lf-2"))
    assert creds == Credentials(public_key="pk-lf-1", secret_key="sk-lf-2")
    assert creds.access_level == "project"


def test_parse_basic_splits_on_first_colon_only():
    creds = parse_authorization(basic("pk:sk:with:colons"))
    assert (creds.public_key, creds.secret_key) == ("pk", "sk:with:colons")


def test_parse_basic_scheme_is_case_insensitive_and_tolerates_whitespace():
    token = base64.b64encode(b"pk:sk").decode()
    assert parse_authorization(f"  basic   {token} ").public_key == "pk"


def test_parse_basic_restores_missing_padding():
    token = base64.b64encode(b"pk-lf-1:sk").decode()
    assert token.endswith("=")
    assert parse_authorization("Basic " + token.rstrip("=")).secret_key == "sk"


def test_parse_bearer_is_scores_access():
    creds = parse_authorization("Bearer pk-lf-1")
    assert creds == Credentials(public_key="pk-lf-1")
    assert creds.access_level == "scores"


def test_secret_not_in_repr():
    assert "sk-secret" not in repr(parse_authorization(basic("pk:sk-secret")))


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header):
    with pytest.raises(Unauthorized) as err:
        parse_authorization(header)
    assert err.value.message == "No authorization header"


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":sk-only").decode(),
        "Basic " + base64.b64encode(b"pk-only:").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic a",  # one base64 char cannot be padded into valid input
        "Bearer",
        "Bearer   ",
        "Bearer pk extra",
        "Token pk-lf-1",
        "pk-lf-1:sk-lf-1",
    ],
)
def test_malformed_header(header):
    with pytest.raises(Unauthorized) as err:
        parse_authorization(header)
    assert err.value.message == "Invalid authorization header"

"""Self-authorising URLs: `UrlSigner` (HMAC over method, path, expiry and granted values) and the
`SignedLinks` built on it for the embedded media blob routes (media-contract.md, "PUT <uploadUrl>")."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import pytest
from tests.support.clock import FakeClock

from spyglass.auth.signed_urls import UrlSigner
from spyglass.domain.errors import Forbidden
from spyglass.services.media_links import BLOB_ROUTE, SignedLinks, UploadGrant

SECRET = b"test-secret"
TAMPERED = "The signature of this URL does not match: it was changed or not issued here"
EXPIRED = "This URL has expired; ask the API for a new one"
NOT_UPLOAD = "This URL does not grant an upload"
NOT_DOWNLOAD = "This URL does not grant a download"
PATH = "media/project-a/abc.png"
PARAMS = {"contentType": "image/png", "contentLength": "123", "sha256": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M="}
HASH = PARAMS["sha256"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()  # now == 1000.0


@pytest.fixture
def signer(clock: FakeClock) -> UrlSigner:
    return UrlSigner(SECRET, clock)


def query_of(text: str) -> dict[str, str]:
    """A query string as the web layer hands it over (blank values kept)."""
    return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))


def forbidden(call, *args) -> str:  # noqa: ANN001
    with pytest.raises(Forbidden) as excinfo:
        call(*args)
    return excinfo.value.message


# -- UrlSigner ------------------------------------------------------------------------------------------


def test_a_signed_query_verifies_and_returns_the_granted_params(signer):
    text, expires = signer.sign("PUT", PATH, PARAMS, 60)
    assert expires == 1060
    query = query_of(text)
    assert set(query) == {"contentType", "contentLength", "sha256", "expires", "signature"}
    assert query["expires"] == "1060"
    assert len(query["signature"]) == 64 and int(query["signature"], 16) >= 0  # hex SHA-256
    assert signer.verify("PUT", PATH, query) == {**PARAMS, "expires": "1060"}


def test_the_method_is_case_insensitive_and_the_signature_deterministic(signer):
    text, _ = signer.sign("put", PATH, PARAMS, 60)
    assert signer.verify("PUT", PATH, query_of(text)) == {**PARAMS, "expires": "1060"}
    assert signer.sign("PUT", PATH, PARAMS, 60)[0] == text


def test_params_with_reserved_characters_survive_the_round_trip(signer):
    params = {"note": "a&b=c d/é+%", "empty": ""}
    text, _ = signer.sign("GET", PATH, params, 60)
    assert signer.verify("GET", PATH, query_of(text)) == {**params, "expires": "1060"}


@pytest.mark.parametrize("name, value", [
    ("contentType", "image/jpeg"),
    ("contentLength", "124"),
    ("contentLength", "1230"),
    ("sha256", "A" * 43 + "="),
    ("expires", "1061"),
    ("expires", "999999999999"),
])
def test_changing_any_value_is_forbidden(signer, name, value):
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    assert query[name] != value
    assert forbidden(signer.verify, "PUT", PATH, {**query, name: value}) == TAMPERED


def test_adding_a_param_is_forbidden(signer):
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    assert forbidden(signer.verify, "PUT", PATH, {**query, "extra": "1"}) == TAMPERED
    assert forbidden(signer.verify, "PUT", PATH, {**query, "extra": ""}) == TAMPERED


@pytest.mark.parametrize("name", ["contentType", "contentLength", "sha256", "expires"])
def test_removing_a_param_is_forbidden(signer, name):
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    del query[name]
    assert forbidden(signer.verify, "PUT", PATH, query) == TAMPERED


def test_values_cannot_be_moved_between_params(signer):
    # Length-prefixed parts: {"a": "b", "c": "d"} and {"a": "b\nc=d"} are different grants.
    query = query_of(signer.sign("GET", PATH, {"a": "b", "c": "d"}, 60)[0])
    merged = {"a": "b\nc=d", "expires": query["expires"], "signature": query["signature"]}
    assert forbidden(signer.verify, "GET", PATH, merged) == TAMPERED
    renamed = {"a": "b", "e": "d", "expires": query["expires"], "signature": query["signature"]}
    assert forbidden(signer.verify, "GET", PATH, renamed) == TAMPERED


@pytest.mark.parametrize("path", ["media/project-a/abd.png", "media/project-b/abc.png", "media/project-a/abc.png/",
                                  "media/project-a/abc.jpg", "MEDIA/project-a/abc.png", ""])
def test_another_path_is_forbidden(signer, path):
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    assert forbidden(signer.verify, "PUT", path, query) == TAMPERED


def test_another_method_is_forbidden(signer):
    put = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    get = query_of(signer.sign("GET", PATH, {}, 60)[0])
    assert forbidden(signer.verify, "GET", PATH, put) == TAMPERED
    assert forbidden(signer.verify, "PUT", PATH, get) == TAMPERED
    assert forbidden(signer.verify, "POST", PATH, put) == TAMPERED
    assert signer.verify("GET", PATH, get) == {"expires": "1060"}


@pytest.mark.parametrize("signature", [None, "", "0" * 64, "zz", "not-hex-at-all", "A" * 64])
def test_a_missing_or_garbage_signature_is_forbidden(signer, signature):
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    if signature is None:
        del query["signature"]
    else:
        query["signature"] = signature
    assert forbidden(signer.verify, "PUT", PATH, query) == TAMPERED


def test_an_uppercased_signature_is_forbidden(signer):
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    assert query["signature"].upper() != query["signature"]  # 64 hex digits: some letter among them
    assert forbidden(signer.verify, "PUT", PATH, {**query, "signature": query["signature"].upper()}) == TAMPERED


@pytest.mark.parametrize("signature", ["é" * 64, "\u0661" * 64, "sig\u00e9"], ids=["latin", "arabic-digits", "mixed"])
def test_a_non_ascii_signature_is_forbidden_not_an_error(signer, signature):
    # `hmac.compare_digest` raises TypeError on non-ASCII str; a query string can carry any character.
    query = query_of(signer.sign("PUT", PATH, PARAMS, 60)[0])
    assert forbidden(signer.verify, "PUT", PATH, {**query, "signature": signature}) == TAMPERED


def test_a_url_is_valid_until_its_expiry_second_and_forbidden_after(signer, clock):
    query = query_of(signer.sign("GET", PATH, {}, 60)[0])
    assert query["expires"] == "1060"
    clock.now = 1059.999
    assert signer.verify("GET", PATH, query) == {"expires": "1060"}
    clock.now = 1060.0
    assert signer.verify("GET", PATH, query) == {"expires": "1060"}
    clock.now = 1060.001
    assert forbidden(signer.verify, "GET", PATH, query) == EXPIRED
    clock.now = 5000.0
    assert forbidden(signer.verify, "GET", PATH, query) == EXPIRED


def test_a_zero_ttl_url_expires_as_soon_as_the_clock_moves(signer, clock):
    query = query_of(signer.sign("GET", PATH, {}, 0)[0])
    assert signer.verify("GET", PATH, query) == {"expires": "1000"}
    clock.now += 0.5
    assert forbidden(signer.verify, "GET", PATH, query) == EXPIRED


def test_the_expiry_follows_the_clock_at_signing_time(signer, clock):
    clock.now = 2_000_000_000.7
    text, expires = signer.sign("GET", PATH, {}, 3600)
    assert expires == 2_000_003_600
    assert query_of(text)["expires"] == "2000003600"


@pytest.mark.parametrize("expires", ["", "soon", "-1", "1e9", " 1060", "1060.0", "\u0661\u0660\u0666\u0660", "²"])
def test_a_non_digit_expiry_is_forbidden_even_when_signed(signer, expires):
    # Only a holder of the secret can produce such a query; `_mac` stands in for a buggy issuer.
    granted = {"expires": expires}
    query = {**granted, "signature": signer._mac("GET", PATH, granted)}
    assert forbidden(signer.verify, "GET", PATH, query) == EXPIRED


def test_a_query_without_expiry_is_forbidden_even_when_signed(signer):
    query = {"signature": signer._mac("GET", PATH, {})}
    assert forbidden(signer.verify, "GET", PATH, query) == EXPIRED


def test_two_secrets_do_not_verify_each_others_urls(clock):
    first, second = UrlSigner(b"secret-one", clock), UrlSigner(b"secret-two", clock)
    one = query_of(first.sign("PUT", PATH, PARAMS, 60)[0])
    two = query_of(second.sign("PUT", PATH, PARAMS, 60)[0])
    assert one["signature"] != two["signature"]
    assert forbidden(second.verify, "PUT", PATH, one) == TAMPERED
    assert forbidden(first.verify, "PUT", PATH, two) == TAMPERED
    assert first.verify("PUT", PATH, one) == second.verify("PUT", PATH, two) == {**PARAMS, "expires": "1060"}


def test_the_default_clock_is_wall_time():
    signer = UrlSigner(SECRET)
    query = query_of(signer.sign("GET", PATH, {}, 3600)[0])
    assert abs(int(query["expires"]) - (datetime.now(tz=UTC).timestamp() + 3600)) < 5
    assert signer.verify("GET", PATH, query) == {"expires": query["expires"]}
    past = query_of(signer.sign("GET", PATH, {}, -10)[0])
    assert forbidden(signer.verify, "GET", PATH, past) == EXPIRED


# -- SignedLinks -----------------------------------------------------------------------------------------


def grant(project_id: str = "project-a", name: str = "abc.png") -> UploadGrant:
    return UploadGrant(f"media/{project_id}/{name}", "image/png", 123, HASH)


def split(url: str) -> tuple[str, str, str, dict[str, str]]:
    """(scheme://host, path, tail as the blob route receives it, query)."""
    parts = urlsplit(url)
    assert BLOB_ROUTE in parts.path, url
    tail = unquote(parts.path.split(BLOB_ROUTE, 1)[1])
    return f"{parts.scheme}://{parts.netloc}", parts.path, tail, query_of(parts.query)


@pytest.fixture
def links(signer: UrlSigner) -> SignedLinks:
    return SignedLinks(signer, 3600)


def test_upload_url_shape(links):
    url = links.upload_url(grant(), "http://testserver/")
    origin, path, tail, query = split(url)
    assert url.startswith("http://testserver/api/public/media-blobs/project-a/abc.png?")
    assert (origin, path, tail) == ("http://testserver", "/api/public/media-blobs/project-a/abc.png",
                                    "project-a/abc.png")
    assert query == {"contentType": "image/png", "contentLength": "123", "sha256": HASH, "expires": "4600",
                     "signature": query["signature"]}
    assert len(query["signature"]) == 64


def test_download_url_shape_and_expiry(links):
    url, expiry = links.download_url("media/project-a/abc.png", "image/png", "http://testserver")
    origin, path, tail, query = split(url)
    assert (origin, path, tail) == ("http://testserver", "/api/public/media-blobs/project-a/abc.png",
                                    "project-a/abc.png")
    assert set(query) == {"expires", "signature"}
    assert query["expires"] == "4600"
    assert expiry == datetime(1970, 1, 1, 1, 16, 40, tzinfo=UTC)  # 4600 seconds after the epoch
    assert expiry.tzinfo is UTC


def test_a_download_url_does_not_carry_the_content_type(links):
    # The blob route serves the type recorded for the media, so the URL is the same for any type.
    png, _ = links.download_url("media/project-a/abc.png", "image/png", "http://testserver/")
    text, _ = links.download_url("media/project-a/abc.png", "text/plain", "http://testserver/")
    assert png == text
    assert "image" not in urlsplit(png).query


@pytest.mark.parametrize("base_url", ["http://localhost:3000/", "http://localhost:3000", "http://localhost:3000//"])
def test_the_request_base_url_is_used_without_doubled_slashes(links, base_url):
    url = links.upload_url(grant(), base_url)
    assert url.startswith("http://localhost:3000/api/public/media-blobs/project-a/abc.png?contentType=image%2Fpng&")
    download, _ = links.download_url("media/project-a/abc.png", "image/png", base_url)
    assert download.startswith("http://localhost:3000/api/public/media-blobs/project-a/abc.png?expires=4600&")


@pytest.mark.parametrize("public_url, prefix", [
    ("https://spyglass.example.com", "https://spyglass.example.com/api/public/media-blobs/"),
    ("https://spyglass.example.com/", "https://spyglass.example.com/api/public/media-blobs/"),
    ("https://example.com/observability/", "https://example.com/observability/api/public/media-blobs/"),
])
def test_public_url_overrides_the_request_base_url(signer, public_url, prefix):
    links = SignedLinks(signer, 3600, public_url)
    upload = links.upload_url(grant(), "http://internal:3000/")
    download, _ = links.download_url("media/project-a/abc.png", "image/png", "http://internal:3000/")
    assert upload.startswith(prefix + "project-a/abc.png?")
    assert download.startswith(prefix + "project-a/abc.png?")
    assert "internal" not in upload + download


@pytest.mark.parametrize("project_id, quoted", [
    ("my project", "my%20project"),
    ("projé-ü", "proj%C3%A9-%C3%BC"),
    ("日本", "%E6%97%A5%E6%9C%AC"),
    ("a+b&c?d#e%f", "a%2Bb%26c%3Fd%23e%25f"),
])
def test_keys_are_quoted_in_the_path_and_verify_after_unquoting(links, project_id, quoted):
    url = links.upload_url(grant(project_id), "http://testserver/")
    _, path, tail, query = split(url)
    assert path == f"/api/public/media-blobs/{quoted}/abc.png"
    assert tail == f"{project_id}/abc.png"
    assert links.verify_upload(tail, query) == UploadGrant(f"media/{project_id}/abc.png", "image/png", 123, HASH)
    download, _ = links.download_url(f"media/{project_id}/abc.png", "image/png", "http://testserver/")
    _, path, tail, query = split(download)
    assert path == f"/api/public/media-blobs/{quoted}/abc.png"
    assert links.verify_download(tail, query) == f"media/{project_id}/abc.png"
    # The quoted spelling is not the signed key.
    if quoted != project_id:
        assert forbidden(links.verify_download, f"{quoted}/abc.png", query) == TAMPERED


def test_verify_upload_round_trip_returns_the_grant(links):
    _, _, tail, query = split(links.upload_url(grant(), "http://testserver/"))
    assert links.verify_upload(tail, query) == grant()


def test_verify_download_round_trip_returns_the_key(links):
    url, _ = links.download_url("media/project-a/abc.png", "image/png", "http://testserver/")
    _, _, tail, query = split(url)
    assert links.verify_download(tail, query) == "media/project-a/abc.png"


def test_an_upload_url_for_one_key_does_not_grant_another(links):
    _, _, _, query = split(links.upload_url(grant(), "http://testserver/"))
    assert forbidden(links.verify_upload, "project-b/abc.png", query) == TAMPERED
    assert forbidden(links.verify_upload, "project-a/abd.png", query) == TAMPERED
    assert forbidden(links.verify_upload, "project-a/abc.jpg", query) == TAMPERED


@pytest.mark.parametrize("name, value", [("contentLength", "124"), ("contentType", "image/jpeg"),
                                         ("sha256", HASH.replace("q", "r")), ("expires", "4601")])
def test_a_tampered_upload_url_is_forbidden(links, name, value):
    _, _, tail, query = split(links.upload_url(grant(), "http://testserver/"))
    assert forbidden(links.verify_upload, tail, {**query, name: value}) == TAMPERED


def test_a_download_url_is_not_an_upload_grant_and_vice_versa(links):
    download, _ = links.download_url("media/project-a/abc.png", "image/png", "http://testserver/")
    _, _, tail, download_query = split(download)
    assert forbidden(links.verify_upload, tail, download_query) == TAMPERED
    _, _, tail, upload_query = split(links.upload_url(grant(), "http://testserver/"))
    assert forbidden(links.verify_download, tail, upload_query) == TAMPERED


def test_a_signed_put_without_the_upload_params_is_not_an_upload_grant(signer, links):
    # Signed with the same secret for the same key and method, but not by `upload_url`.
    for params in ({}, {"contentType": "image/png", "contentLength": "123"},
                   {**PARAMS, "extra": "1"}, {**PARAMS, "contentLength": "12x"}, {**PARAMS, "contentLength": ""}):
        query = query_of(signer.sign("PUT", PATH, params, 60)[0])
        assert forbidden(links.verify_upload, "project-a/abc.png", query) == NOT_UPLOAD


def test_a_signed_get_with_extra_params_is_not_a_download_grant(signer, links):
    query = query_of(signer.sign("GET", PATH, {"contentType": "image/png"}, 60)[0])
    assert forbidden(links.verify_download, "project-a/abc.png", query) == NOT_DOWNLOAD


def test_links_expire_after_their_ttl(signer, clock):
    links = SignedLinks(signer, 30)
    _, _, tail, upload = split(links.upload_url(grant(), "http://testserver/"))
    download_url, expiry = links.download_url("media/project-a/abc.png", "image/png", "http://testserver/")
    _, _, _, download = split(download_url)
    assert upload["expires"] == download["expires"] == "1030"
    assert expiry == datetime.fromtimestamp(1030, tz=UTC)
    clock.now = 1030
    assert links.verify_upload(tail, upload) == grant()
    assert links.verify_download(tail, download) == "media/project-a/abc.png"
    clock.now = 1031
    assert forbidden(links.verify_upload, tail, upload) == EXPIRED
    assert forbidden(links.verify_download, tail, download) == EXPIRED


def test_links_of_another_secret_are_forbidden(clock):
    ours, theirs = SignedLinks(UrlSigner(b"ours", clock), 3600), SignedLinks(UrlSigner(b"theirs", clock), 3600)
    _, _, tail, query = split(theirs.upload_url(grant(), "http://testserver/"))
    assert forbidden(ours.verify_upload, tail, query) == TAMPERED
    url, _ = theirs.download_url("media/project-a/abc.png", "image/png", "http://testserver/")
    _, _, tail, query = split(url)
    assert forbidden(ours.verify_download, tail, query) == TAMPERED


def test_the_query_is_the_signers_urlencoding(links):
    url = links.upload_url(grant(), "http://testserver/")
    query = urlsplit(url).query
    signature = query_of(query)["signature"]
    assert query == urlencode({"contentType": "image/png", "contentLength": "123", "sha256": HASH,
                               "expires": "4600", "signature": signature})

import hashlib
import io
import urllib.error
import urllib.request

import pytest

from spikegrad.data.download import DatasetUnavailable, digest_of, fetch, sha256_of, unavailable_message
from spikegrad.data.spikedata import DataError

PAYLOAD = bytes(range(256)) * 4100  # ~1 MB: more than one read chunk
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "server" / "file.bin"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_file_url(source, tmp_path):
    dest = tmp_path / "data" / "sub" / "file.bin"
    assert fetch(source.as_uri(), dest, DIGEST, "test file") == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["file.bin"]  # no .part left
    assert sha256_of(dest) == DIGEST


def test_fetch_keeps_verified_file_without_network(source, tmp_path, monkeypatch):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)

    def no_network(*args, **kwargs):
        raise AssertionError("urlopen called for a file that is already verified")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert fetch("http://example.invalid/file.bin", dest, DIGEST.upper(), "test file") == dest


def test_fetch_replaces_wrong_existing_file(source, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"stale")
    fetch(source.as_uri(), dest, DIGEST, "test file")
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(source, tmp_path):
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        fetch(source.as_uri(), dest, "0" * 64, "test file")
    assert not isinstance(info.value, DatasetUnavailable)
    message = str(info.value)
    assert str(dest) in message and DIGEST in message and "0" * 64 in message
    assert leftovers(dest.parent) == []


def test_fetch_md5(source, tmp_path, monkeypatch):
    dest = tmp_path / "data" / "file.bin"
    assert fetch(source.as_uri(), dest, MD5, "test file", algorithm="md5") == dest
    assert dest.read_bytes() == PAYLOAD and leftovers(dest.parent) == ["file.bin"]
    assert digest_of(dest, "md5") == MD5 and digest_of(dest) == DIGEST == sha256_of(dest)

    def no_network(*args, **kwargs):
        raise AssertionError("urlopen called for a file that is already verified")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert fetch("http://example.invalid/file.bin", dest, MD5.upper(), "test file", algorithm="md5") == dest


def test_md5_mismatch_leaves_nothing(source, tmp_path):
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        fetch(source.as_uri(), dest, "0" * 32, "test file", algorithm="md5")
    assert not isinstance(info.value, DatasetUnavailable)
    assert f"MD5 {MD5}, expected {'0' * 32}" in str(info.value) and "SHA-256" not in str(info.value)
    assert leftovers(dest.parent) == []
    # a SHA-256 given as the MD5 is a mismatch too, not silently accepted
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(source.as_uri(), dest, DIGEST, "test file", algorithm="md5")
    assert leftovers(dest.parent) == []


def test_unknown_algorithm_writes_nothing(source, tmp_path):
    with pytest.raises(ValueError, match="unsupported hash type"):
        fetch(source.as_uri(), tmp_path / "data" / "file.bin", MD5, "test file", algorithm="nope")
    assert leftovers(tmp_path) == ["server"]


def test_md5_unreachable_host(tmp_path):
    dest = tmp_path / "data" / "file.bin"
    url = "http://localhost:9/file.bin"
    with pytest.raises(DatasetUnavailable) as info:
        fetch(url, dest, MD5, "test file", name="mnist", root=tmp_path, timeout=5, algorithm="md5")
    check_unavailable(info.value, dest, url)
    assert leftovers(dest.parent) == []


def check_unavailable(err, dest, url):
    message = str(err)
    assert "test file is missing" in message
    assert f"expected {dest}" in message
    assert "python -m spikegrad.data download mnist --root" in message
    assert "on a machine with network and copy the folder" in message
    assert url in message
    assert "\n" not in message


def test_unreachable_host(tmp_path):
    dest = tmp_path / "data" / "file.bin"
    url = "http://localhost:9/file.bin"  # discard port: connection refused, no internet involved
    with pytest.raises(DatasetUnavailable) as info:
        fetch(url, dest, DIGEST, "test file", name="mnist", root=tmp_path, timeout=5)
    assert isinstance(info.value, DataError)
    check_unavailable(info.value, dest, url)
    assert info.value.reason
    assert leftovers(dest.parent) == []


@pytest.mark.parametrize(
    "error, reason",
    [
        (urllib.error.URLError("[Errno -3] Temporary failure in name resolution"), "name resolution"),
        (urllib.error.HTTPError("http://x", 404, "Not Found", {}, None), "HTTP 404 Not Found"),
        (TimeoutError("timed out"), "timed out"),
    ],
)
def test_offline_errors(tmp_path, monkeypatch, error, reason):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    dest = tmp_path / "file.bin"
    url = "https://example.org/file.bin"
    with pytest.raises(DatasetUnavailable, match=reason) as info:
        fetch(url, dest, DIGEST, "test file", name="mnist", root=tmp_path)
    check_unavailable(info.value, dest, url)
    assert leftovers(tmp_path) == []


class Broken(io.BytesIO):
    """A response that delivers one chunk, then fails with ``error``."""

    def __init__(self, error):
        super().__init__(PAYLOAD)
        self.error = error
        self.calls = 0

    def read(self, n=-1):
        self.calls += 1
        if self.calls > 1:
            raise self.error
        return super().read(n)


def test_connection_lost_midway(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Broken(ConnectionResetError("reset by peer")))
    dest = tmp_path / "file.bin"
    with pytest.raises(DatasetUnavailable, match="connection lost after 1048576 bytes"):
        fetch("https://example.org/file.bin", dest, DIGEST, "test file")
    assert leftovers(tmp_path) == []


def test_interrupt_removes_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Broken(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fetch("https://example.org/file.bin", tmp_path / "file.bin", DIGEST, "test file")
    assert leftovers(tmp_path) == []


def test_message_defaults():
    message = unavailable_message("SHD train file", "/data/SHD/shd_train.h5")
    assert message == (
        "SHD train file is missing: expected /data/SHD/shd_train.h5. To obtain it, run "
        "`python -m spikegrad.data download NAME --root DIR`; without network here, run that command on a machine "
        "with network and copy the folder /data/SHD to the same place here."
    )
    with_urls = unavailable_message("x", "/d/f.h5", "shd", "/d", ["https://a/f.zip"], folder="/d/SHD", unpack=True)
    assert with_urls.endswith("Or download it by hand from https://a/f.zip and unpack it into /d/SHD.")

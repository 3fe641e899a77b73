"""Checksummed downloads and the one message every missing published dataset raises.

:func:`fetch` streams a URL into ``dest.part``, hashes it on the way (SHA-256 by default; MD5 or another
:mod:`hashlib` algorithm where only that checksum is published), and renames it to ``dest`` only when the digest
matches, so a file at ``dest`` is always complete and verified; an interrupted or
mismatching download leaves nothing behind. Nothing downloaded is ever unpickled.

Two failures are told apart:

- :class:`DatasetUnavailable` (a :class:`~spikegrad.data.spikedata.DataError`): the data are not on disk and
  cannot be fetched (no network, host unreachable, HTTP error). Its message, built by
  :func:`unavailable_message`, says what is missing, where it was expected and how to get it;
- :class:`~spikegrad.data.spikedata.DataError`: the bytes arrived but are wrong (checksum mismatch), or a file
  on disk is corrupt. The message names the file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .spikedata import DataError

CHUNK = 1 << 20  # bytes read per step while downloading and hashing
TIMEOUT = 60.0  # s, socket timeout of one download
CLI = "python -m spikegrad.data download"

# What urlopen and reading a response raise when the network, the host or the server is the problem. Local
# file errors (disk full, permissions) are not in this list and propagate unchanged.
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class DatasetUnavailable(DataError):
    """A published dataset is not on disk and cannot be downloaded here. The message says what is missing,
    where it was expected and how to obtain it; ``reason`` holds the network error, if a download was tried."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


def unavailable_message(
    what: str,
    path: str | os.PathLike,
    name: str | None = None,
    root: str | os.PathLike | None = None,
    urls: Sequence[str] = (),
    reason: str | None = None,
    folder: str | os.PathLike | None = None,
    unpack: bool = False,
) -> str:
    """The one message for a missing dataset file or folder ``path`` holding ``what``.

    It names the missing thing and where it was expected, the reason a download failed (if one was tried),
    the command that downloads dataset ``name`` into ``root`` (to run on a machine with network, then copy
    ``folder``, by default the parent of ``path``), and the source ``urls`` (archives to unpack if ``unpack``).
    """
    path = Path(path)
    folder = Path(folder) if folder is not None else path.parent
    name = name or "NAME"
    root_s = str(root) if root is not None else "DIR"
    message = f"{what} is missing: expected {path}"
    if reason:
        message += f" (download failed: {reason})"
    message += (
        f". To obtain it, run `{CLI} {name} --root {root_s}`; without network here, run that command on a machine "
        f"with network and copy the folder {folder} to the same place here"
    )
    if urls:
        message += (
            f". Or download it by hand from {' or '.join(urls)}{' and unpack it' if unpack else ''} into {folder}"
        )
    return message + "."


# hashlib algorithm name -> how messages spell it
ALGORITHM_NAMES = {"sha256": "SHA-256", "md5": "MD5", "sha1": "SHA-1", "sha512": "SHA-512"}


def _hasher(algorithm: str):
    # usedforsecurity=False: an integrity check of a download, allowed for MD5 on FIPS systems too
    return hashlib.new(algorithm, usedforsecurity=False)


def digest_of(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file under the :mod:`hashlib` ``algorithm``, read in chunks."""
    digest = _hasher(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    return digest_of(path, "sha256")


def fetch(
    url: str,
    dest: str | os.PathLike,
    checksum: str,
    what: str,
    name: str | None = None,
    root: str | os.PathLike | None = None,
    timeout: float = TIMEOUT,
    algorithm: str = "sha256",
) -> Path:
    """Download ``url`` to ``dest`` and verify its checksum; return ``dest``.

    ``checksum`` is the expected hex digest under the :mod:`hashlib` ``algorithm`` (SHA-256 by default; "md5"
    for archives whose publishers record only an MD5). A ``dest`` that already holds the right bytes is kept
    without downloading. Otherwise the body goes to ``dest.part`` (created with its folders), is hashed while it
    streams, and is renamed to ``dest`` only if the digest equals ``checksum``. ``what`` describes the file for
    messages; ``name`` and ``root`` fill in the download command they suggest. An unknown ``algorithm`` raises
    ValueError before anything is written.

    Raises :class:`DatasetUnavailable` when the URL cannot be reached or read (offline, unknown host, refused
    connection, HTTP error, timeout) and :class:`DataError` naming the file on a checksum mismatch; in both
    cases no ``dest`` or ``dest.part`` is left behind.
    """
    dest = Path(dest)
    expected = checksum.lower()
    digest = _hasher(algorithm)  # ValueError for an unknown algorithm, before any file is touched
    label = ALGORITHM_NAMES.get(algorithm.lower(), algorithm)
    if dest.is_file() and digest_of(dest, algorithm) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with open(part, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except _NETWORK_ERRORS as err:
                reason = _reason(err)
                raise DatasetUnavailable(unavailable_message(what, dest, name, root, [url], reason), reason) from err
            with response:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except _NETWORK_ERRORS as err:
                        reason = f"connection lost after {out.tell()} bytes: {_reason(err)}"
                        message = unavailable_message(what, dest, name, root, [url], reason)
                        raise DatasetUnavailable(message, reason) from err
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected:
            raise DataError(
                f"{dest}: checksum mismatch for {what} downloaded from {url}: {label} {actual}, expected {expected}; "
                "the file was discarded (a changed mirror or a corrupted transfer)"
            )
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return f"{type(err).__name__}: {err}"


__all__ = ("DatasetUnavailable", "digest_of", "fetch", "sha256_of", "unavailable_message")

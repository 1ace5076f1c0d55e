"""`get_file`: the cache, the hashes and the download (written beside its target, then renamed into place)."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from typing import Any, Callable, Sequence

from corelib.downloads.extract import PART_SUFFIX, archive_formats, extract_archive
from corelib.errors import ConfigError, DataError, one_line

HOME_VARIABLE = "DL_HOME"
TIMEOUT = 60.0  # seconds a connection or a read may stall before the download fails
_CHUNK = 1 << 16


def cache_home() -> str:
    """The cache root: ``$DL_HOME`` when set, else ``~/.dl``."""
    return os.path.expanduser(os.environ.get(HOME_VARIABLE) or os.path.join("~", ".dl"))


def _hasher(algorithm: str, file_hash: str | None = None) -> Any:
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath: str | os.PathLike, algorithm: str = "sha256", chunk_size: int = _CHUNK) -> str:
    """The hex sha256 (or md5) digest of a file, as ``sha256sum`` prints it.

    Args:
        fpath: the file.
        algorithm: "sha256" or "md5" ("auto" means sha256 here).
        chunk_size: bytes read at a time.
    """
    hasher = _hasher(_check_algorithm(algorithm))
    with open(fpath, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath: str | os.PathLike, file_hash: str, algorithm: str = "auto", chunk_size: int = _CHUNK) -> bool:
    """Whether a file's sha256 or md5 digest is `file_hash` ("auto": sha256 for 64 hex digits, else md5)."""
    algorithm = _check_algorithm(algorithm)
    hasher = _hasher(algorithm, file_hash)
    return hash_file(fpath, hasher.name, chunk_size) == str(file_hash).lower()


def _check_algorithm(algorithm: Any) -> str:
    if algorithm not in ("auto", "sha256", "md5"):
        raise ConfigError(f'hash_algorithm must be "auto", "sha256" or "md5". Received: hash_algorithm={algorithm!r}')
    return algorithm


def _check_hash(file_hash: Any, algorithm: str) -> str:
    text = str(file_hash).strip().lower()
    expected = {"sha256": (64,), "md5": (32,), "auto": (32, 64)}[algorithm]
    if len(text) not in expected or any(c not in "0123456789abcdef" for c in text):
        raise ConfigError(
            f"file_hash must be {' or '.join(str(n) for n in expected)} hex digits for hash_algorithm={algorithm!r}. "
            f"Received: file_hash={file_hash!r}"
        )
    return text


def get_file(
    fname: str | os.PathLike | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | Sequence[str] | None = "auto",
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
) -> str:
    """Download a file from a URL unless it is already in the cache; return its local path.

    The file lands in ``cache_dir/cache_subdir/fname`` (by default
    ``~/.dl/datasets/<the URL's file name>``). When it is there already and
    matches `file_hash` (or no hash is given), nothing is downloaded. Pass a
    hash obtained from a source you trust: it is the only protection against a
    tampered or truncated download.

    Args:
        fname: the file's local name (no folder); the last part of the URL's
            path when None. With `extract`, a name without a dot names the
            extraction folder; a name with one names the archive, and the
            folder is ``<name up to the first dot>_extracted`` (as Keras).
        origin: the URL (http, https, ftp or file).
        untar: deprecated spelling of ``extract=True, archive_format="tar"``.
        md5_hash: deprecated spelling of ``file_hash=..., hash_algorithm="md5"``.
        file_hash: the expected sha256 or md5 hex digest of the file.
        cache_subdir: the folder under `cache_dir`; an absolute path is used as is.
        hash_algorithm: "sha256", "md5", or "auto" (by the hash's length: 64
            hex digits sha256, 32 md5).
        extract: unpack the archive (tar, tar.gz, tar.bz2, tar.xz, zip) and
            return the folder it was unpacked into. The archive is unpacked
            again only when it was downloaded again or the folder is missing.
        archive_format: "auto" (tar then zip), "tar", "zip", or a list of them.
        cache_dir: the cache root; ``$DL_HOME`` or ``~/.dl`` when None (a
            default that cannot be created falls back to ``<tmp>/.dl``, as
            Keras does).
        force_download: download even when the cached file is good.

    Returns:
        The path of the file, or with `extract` of the folder it was unpacked into.

    Raises:
        ConfigError: a missing `origin`, a bad `fname`, hash or archive format.
        DataError: the download failed (naming the URL), its hash differs from
            `file_hash`, or the archive is unreadable or unsafe.
    """
    if not origin:
        raise ConfigError('get_file: please specify the "origin" argument (the URL of the file to download)')
    origin = str(origin)
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    hash_algorithm = _check_algorithm(hash_algorithm)
    if file_hash is not None:
        file_hash = _check_hash(file_hash, hash_algorithm)
    if untar:
        extract, archive_format = True, "tar"
    formats = archive_formats(archive_format) if extract else []

    provided = fname is not None and os.fspath(fname) != ""
    name = os.fspath(fname) if provided else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ConfigError(f"get_file cannot take a file name from origin={origin!r}; pass `fname`")
    if os.sep in name or "/" in name or name in (".", ".."):
        raise ConfigError(f"get_file: fname is a file name, not a path; use cache_dir for the folder. "
                          f"Received: fname={name!r}")
    datadir = _cache_folder(cache_dir, cache_subdir)

    extraction_dir = None
    if extract:
        if provided and "." in name:
            target = os.path.join(datadir, name)
            extraction_dir = os.path.join(datadir, name[:name.find(".")] + "_extracted")
        else:
            target = os.path.join(datadir, name + "_archive")
            extraction_dir = os.path.join(datadir, name)
    else:
        target = os.path.join(datadir, name)

    downloaded = False
    if force_download or not os.path.exists(target):
        _download(origin, target, file_hash, hash_algorithm)
        downloaded = True
    elif file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
        warnings.warn(f"get_file: the cached file {target} does not match its {hash_algorithm} hash {file_hash} "
                      f"(incomplete or outdated); downloading it again from {origin}", stacklevel=2)
        os.remove(target)
        _download(origin, target, file_hash, hash_algorithm)
        downloaded = True

    if extraction_dir is None:
        return target
    if downloaded or not os.path.isdir(extraction_dir):
        extract_archive(target, extraction_dir, formats)
    return extraction_dir


def _cache_folder(cache_dir: Any, cache_subdir: str) -> str:
    root = cache_home() if cache_dir is None else os.path.expanduser(os.fspath(cache_dir))
    folder = os.path.join(root, cache_subdir)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        if cache_dir is not None or os.path.isabs(cache_subdir):
            raise DataError(f"get_file cannot create the cache folder {folder}: {one_line(exc.strerror or exc)}") from None
        folder = os.path.join(tempfile.gettempdir(), ".dl", cache_subdir)  # Keras falls back the same way
        os.makedirs(folder, exist_ok=True)
    return folder


# ---------------------------------------------------------------- downloading


def _download(origin: str, target: str, file_hash: str | None, algorithm: str) -> None:
    """Fetch `origin` into a temporary file beside `target`, check it, rename it to `target`."""
    folder = os.path.dirname(target)
    fd, part = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=PART_SUFFIX, dir=folder)
    hasher = _hasher(algorithm, file_hash)
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(origin, out, hasher.update)
            out.flush()
            os.fsync(out.fileno())
        if file_hash is not None and hasher.hexdigest() != file_hash:
            raise DataError(f"The file downloaded from {origin} does not match its {hasher.name} hash: expected "
                            f"{file_hash}, received {hasher.hexdigest()} (incomplete, corrupted or changed)")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(part, 0o666 & ~umask)  # mkstemp makes 0600; a cached file gets the usual permissions
        os.replace(part, target)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise
    _fsync_folder(folder)


def _fetch(origin: str, out: Any, update: Callable[[bytes], None]) -> None:
    """Stream `origin` into `out`, feeding each chunk to `update`; network failures become DataError."""
    try:
        request = urllib.request.Request(origin)
    except ValueError as exc:
        raise ConfigError(f"get_file: origin is not a URL: {one_line(exc)}. Received: origin={origin!r}") from None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with _Progress(origin, total) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    update(chunk)
                    received += len(chunk)
                    bar(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"URL fetch failure on {origin}: HTTP {exc.code} {one_line(exc.reason)}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason if not isinstance(exc.reason, TimeoutError) else f"timed out after {TIMEOUT:g} s"
        raise DataError(f"URL fetch failure on {origin}: {one_line(reason)}") from None
    except TimeoutError:
        raise DataError(f"URL fetch failure on {origin}: timed out after {TIMEOUT:g} s") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise DataError(f"URL fetch failure on {origin}: the connection broke ({type(exc).__name__}: "
                        f"{one_line(exc)})") from None
    if total is not None and received != total:
        raise DataError(f"URL fetch failure on {origin}: the connection closed after {received} of {total} bytes")


class _Progress:
    """A tqdm byte counter on stderr when tqdm is installed and stderr is a terminal; silent otherwise."""

    def __init__(self, origin: str, total: int | None) -> None:
        self._bar = None
        if sys.stderr is not None and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                             desc=f"Downloading {os.path.basename(urllib.parse.urlsplit(origin).path) or origin}",
                             leave=False, dynamic_ncols=True)

    def __enter__(self) -> Callable[[int], None]:
        return self._bar.update if self._bar is not None else (lambda n: None)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def _fsync_folder(folder: str) -> None:
    """Make a rename in `folder` durable; some file systems cannot open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

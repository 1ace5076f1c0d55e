"""The zip archive behind model files and checkpoints: atomic writes and guarded reads.

A file is written to a temporary name in its folder and renamed into place,
so a failed or interrupted write leaves the previous file whole (and no
partial one). Reads go through `safe_zip`, which checks sizes and `.npy`
headers before any data is read.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import Any, Callable

import numpy as np

from corelib.errors import ModelFileError, exception_line, one_line
from corelib.saving.safe_zip import CORRUPT_ENTRY_ERRORS, check_entries, read_entry

__all__ = ["FORMAT", "FORMAT_VERSION", "ENTRIES", "write_atomically", "npz_bytes", "open_zip", "open_inner_npz",
           "model_entries", "read_config", "physical_memory", "TEMPORARY_PREFIX"]

FORMAT = "dl-model"
FORMAT_VERSION = 1
ENTRIES = frozenset({"config.json", "weights.npz", "optimizer.npz", "train_state.json"})  # the last: checkpoints
TEMPORARY_PREFIX = ".dl-save-"
_MAX_CONFIG_BYTES = 16 * 2**20


def write_atomically(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """Call `write(binary file)` on a temporary file beside `path`, then rename it to `path`.

    A failure (or Ctrl-C) while writing removes the temporary file and leaves
    whatever was at `path` untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=".tmp", dir=directory)
    except OSError as exc:  # a read-only or full file system: name the file meant, not a temporary name
        raise OSError(exc.errno, exc.strerror, path) from exc
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets the usual permissions
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:  # disk full while writing: name the file
            raise OSError(exc.errno, exc.strerror, path) from exc
        raise


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """`arrays` as the bytes of an uncompressed .npz."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def physical_memory() -> int:
    """The machine's memory in bytes (a generous guess where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**36


def open_zip(path: str, what: str) -> zipfile.ZipFile:
    """The zip at `path`; a missing or unreadable file is a ModelFileError naming `what` it should be."""
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such {what}") from None
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise ModelFileError(f"{path}: not a {what} (not a readable zip: {exc})") from None


def open_inner_npz(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> zipfile.ZipFile:
    """The .npz stored as entry `info` of `zf`, opened as a zip of its own."""
    try:
        return zipfile.ZipFile(zf.open(info))
    except CORRUPT_ENTRY_ERRORS as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({exception_line(exc)})") from None


def model_entries(zf: zipfile.ZipFile, path: str, what: str, in_what: str) -> dict[str, zipfile.ZipInfo]:
    """{name: info} of a model file or checkpoint: safe entries (`check_entries`), and only ones dl writes.

    Args:
        zf: the open file.
        path: its path, for the messages.
        what: the file as `check_entries`' messages name it ("the model file").
        in_what: the file as the message for an entry dl does not write ends ("model file").
    """
    infos = check_entries(zf, path, what)
    bad = sorted(set(infos) - ENTRIES)
    if bad:
        raise ModelFileError(f"{path}: unexpected entry {bad[0]!r} in {in_what}")
    return infos


def read_config(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> dict:
    """config.json of a model file or checkpoint, checked to be a dl model config of this format version."""
    raw = read_entry(zf, info, path, _MAX_CONFIG_BYTES)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ModelFileError(f"{path}: config.json is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: config.json is corrupt ({type(exc).__name__}: {one_line(exc)})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{path}: config.json is not a dl model config (format must be {FORMAT!r})")
    version = doc.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: unsupported model file format_version {version!r}; this dl reads version {FORMAT_VERSION}"
        )
    return doc

"""`extract_archive`: unpack a tar or zip archive atomically, refusing members that would land outside."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from typing import Any, Sequence

from corelib.errors import ConfigError, DataError, one_line

PART_SUFFIX = ".part"  # the suffix of a download or an extraction not yet renamed into place


def archive_formats(archive_format: Any) -> list[str]:
    """The formats to try, in order, for `archive_format` ("auto", "tar", "zip", a list of them, or None)."""
    if archive_format is None:
        return []
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ConfigError(f'archive_format must be "auto", "tar", "zip", a list of them or None. '
                              f"Received: archive_format={archive_format!r}")
    return formats


def extract_archive(file_path: str | os.PathLike, path: str | os.PathLike = ".",
                    archive_format: str | Sequence[str] | None = "auto") -> bool:
    """Unpack a tar (plain, gz, bz2, xz) or zip archive into the folder `path`, atomically.

    The members are unpacked into a temporary folder beside `path`, which then
    replaces `path`; an archive with a member that would land outside the
    folder (absolute path, ``..``, a link pointing outside, a device file) is
    refused whole.

    Args:
        file_path: the archive.
        path: the folder to unpack into (replaced if it exists).
        archive_format: "auto" (tar then zip), "tar", "zip", a list of them.

    Returns:
        True (as Keras's `extract_archive`, whose False is an error here).

    Raises:
        DataError: the file is none of the formats tried, is unreadable, or is unsafe.
    """
    file_path, path = os.fspath(file_path), os.path.abspath(os.fspath(path))
    formats = archive_formats(archive_format)
    if not formats:
        raise ConfigError(f"get_file: extract=True needs an archive format; received archive_format={archive_format!r}")
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(file_path):
            unpack = _unpack_tar
            break
        if kind == "zip" and zipfile.is_zipfile(file_path):
            unpack = _unpack_zip
            break
    else:
        raise DataError(f"Cannot extract {file_path}: it is not a {' or '.join(formats)} archive")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=PART_SUFFIX, dir=parent)
    try:
        try:
            unpack(file_path, staging)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise DataError(f"Cannot extract {file_path}: {type(exc).__name__}: {one_line(exc)}") from None
        _move_into_place(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def _move_into_place(staging: str, path: str) -> None:
    old = None
    if os.path.lexists(path):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".old", dir=os.path.dirname(path))
        os.replace(path, os.path.join(old, "x"))
    try:
        os.rename(staging, path)
    except OSError:
        if not os.path.isdir(path):  # another process unpacked the same archive meanwhile: keep theirs
            raise
        shutil.rmtree(staging, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _unsafe_name(name: str) -> str | None:
    """Why a member name would land outside the folder, or None when it stays inside."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "an absolute path"
    if ".." in posix.split("/"):
        return "a '..' component"
    return None


def _inside(base: str, relative: str) -> bool:
    resolved = os.path.realpath(os.path.join(base, relative))
    return os.path.commonpath([resolved, base]) == base


def _refuse(file_path: str, member: str, why: str) -> DataError:
    return DataError(f"Refusing to extract {file_path}: member {member!r} is {why}")


def _unpack_tar(file_path: str, folder: str) -> None:
    base = os.path.realpath(folder)
    with tarfile.open(file_path) as archive:
        members = archive.getmembers()
        for member in members:
            why = _unsafe_name(member.name)
            if why is None and not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                why = "a device file, FIFO or other special file"
            if why is None and not _inside(base, member.name):
                why = "outside the extraction folder"
            if why is None and member.issym() and (os.path.isabs(member.linkname) or not _inside(
                    base, os.path.join(os.path.dirname(member.name), member.linkname))):
                why = f"a symbolic link pointing outside the extraction folder (to {member.linkname!r})"
            if why is None and member.islnk() and (_unsafe_name(member.linkname) or not _inside(base, member.linkname)):
                why = f"a hard link to outside the extraction folder ({member.linkname!r})"
            if why is not None:
                raise _refuse(file_path, member.name, why)
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: the standard library's own checks too
            archive.extractall(folder, members=members, filter="data")
        else:
            archive.extractall(folder, members=members)


def _unpack_zip(file_path: str, folder: str) -> None:
    # zipfile writes every member, links and special files included, as a plain file or a folder, so only
    # the names can escape.
    base = os.path.realpath(folder)
    with zipfile.ZipFile(file_path) as archive:
        infos = archive.infolist()
        for info in infos:
            why = _unsafe_name(info.filename)
            if why is None and not _inside(base, info.filename):
                why = "outside the extraction folder"
            if why is not None:
                raise _refuse(file_path, info.filename, why)
        archive.extractall(folder, members=infos)

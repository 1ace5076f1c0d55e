"""The files a command reads and writes, checked together before any work.

Every `dl` command that writes a file states its inputs and outputs here,
and the rules hold for all of them:

- an output is never one of the command's inputs (the same path, a symbolic
  link to it or a hard link of it), nor inside a folder it reads (a folder of
  images), nor another of its outputs;
- no output lies in the checkpoint folder of `dl train` (the run writes,
  locks and removes what is there), and no input is a file the checkpoint
  would overwrite;
- a path written in a spec (``training.output``, ``training.data``) stays
  under the spec's folder; a path given on the command line may go anywhere;
- each output's folder exists and takes a new file (a temporary file is made
  there and removed), so a read-only folder or a full disk is found before
  the first training step, not after the last.

Each refusal is a ConfigError (exit code 2) naming both paths and the flags
or fields they came from.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["Output", "check_paths", "check_writable", "check_spec_path", "same_file", "inside"]

_PROBE_PREFIX = ".dl-probe-"


@dataclass(frozen=True)
class Output:
    """A file a command writes.

    Attributes:
        flag: where the path came from, as the user knows it ("--output", "training.output").
        path: the path.
        in_place: written in place (the CSV log, appended to on --resume) rather than to a
            temporary file renamed into place; an existing file must then itself take writes.
    """

    flag: str
    path: Path
    in_place: bool = False


def _resolved(path: Path) -> Path:
    """`path` absolute with symbolic links followed (as far as they lead: a loop stops there)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _lexical(path: Path) -> Path:
    """`path` absolute with ``..`` and ``.`` taken out, links not followed."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file: equal paths once made absolute or once symbolic
    links are followed, or (both existing) one file under two hard links."""
    if _lexical(a) == _lexical(b) or _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies somewhere below it, as written or with symbolic
    links followed."""
    return _under(_lexical(path), _lexical(folder)) or _under(_resolved(path), _resolved(folder))


def check_paths(inputs: Sequence[tuple[str, Path | None]], outputs: Sequence[Output | None],
                checkpoint_dir: tuple[str, Path] | None = None, checkpoint_files: Sequence[Path] = ()) -> None:
    """Refuse an output that is an input, another output or in the checkpoint folder.

    Args:
        inputs: (flag, path) of every file the command reads; None paths are skipped.
        outputs: every file it writes; None entries are skipped.
        checkpoint_dir: (flag, folder) of `dl train`'s checkpoint folder, if any.
        checkpoint_files: the files the run writes in that folder (the checkpoint, its lock):
            an input must not be one of them.

    Raises:
        ConfigError: the first conflict, naming both paths and where they came from.
    """
    from corelib.errors import ConfigError

    reads = [(flag, path) for flag, path in inputs if path is not None]
    writes = [o for o in outputs if o is not None]
    for out in writes:
        for flag, path in reads:
            if same_file(out.path, path):
                raise ConfigError(f"{out.flag} {out.path} is the same file as {flag} {path}; dl never writes over "
                                  "a file it reads: give another path")
            if path.is_dir() and inside(out.path, path):
                raise ConfigError(f"{out.flag} {out.path} is inside {flag} {path}, a folder the command reads; dl "
                                  "never writes among its inputs: give another path")
        if checkpoint_dir is not None and inside(out.path, checkpoint_dir[1]):
            raise ConfigError(f"{out.flag} {out.path} is inside the checkpoint folder {checkpoint_dir[1]} "
                              f"({checkpoint_dir[0]}), whose files the run writes and deletes: write it elsewhere")
    for i, a in enumerate(writes):
        for b in writes[i + 1:]:
            if same_file(a.path, b.path):
                raise ConfigError(f"{a.flag} {a.path} and {b.flag} {b.path} are the same file: give each output "
                                  "its own path")
    for flag, path in reads:
        if checkpoint_dir is not None and path.is_dir() and inside(checkpoint_dir[1], path):
            raise ConfigError(f"the checkpoint folder {checkpoint_dir[1]} ({checkpoint_dir[0]}) is inside {flag} "
                              f"{path}, a folder the command reads: give another --checkpoint-dir")
        for written in checkpoint_files:
            if same_file(path, written):
                raise ConfigError(f"{flag} {path} is a file the run writes in its checkpoint folder "
                                  f"{written.parent}: give another path")
    for out in writes:
        _check_output(out)


def _check_output(out: Output) -> None:
    """The output's folder exists, and the path is not a folder or some other non-file."""
    from corelib.errors import ConfigError

    path = out.path
    if path.is_dir():
        raise ConfigError(f"{out.flag} {path} is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{out.flag} {path} is not a regular file (a device, a pipe or a socket); "
                          "give a file name")
    parent = _lexical(path).parent
    if not parent.is_dir():
        raise ConfigError(f"{out.flag} {path}: the directory {parent} does not exist")


def check_writable(outputs: Sequence[Output | None]) -> None:
    """Make sure each output can be written, before any work: a temporary file is created
    in its folder and removed (an existing in-place output is instead opened for appending,
    which changes nothing in it).

    Raises:
        ConfigError: a folder or file that does not take writes (read-only, full, not
            permitted), naming it and the reason.
    """
    from corelib.errors import ConfigError

    for out in outputs:
        if out is None:
            continue
        existing = out.in_place and out.path.exists()  # written where it is: the file must take writes
        where = out.path if existing else _lexical(out.path).parent  # else its folder, a temporary file
        try:
            if existing:
                with open(out.path, "ab"):
                    pass
            else:
                fd, probe = tempfile.mkstemp(prefix=_PROBE_PREFIX, suffix=".tmp", dir=where)
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            raise ConfigError(f"{out.flag} {out.path}: cannot write {where} ({exc.strerror or exc})") from None


def check_spec_path(spec_path: Path, field: str, path: Path, follow_links: bool, flag: str) -> None:
    """Refuse a path read from the spec (``training.output``, ``training.data``) that leads
    outside the spec's folder (an absolute path elsewhere, ``../``): a downloaded spec must
    not write (or read) anywhere it likes. `follow_links`: judge the path with symbolic
    links followed (for a file written), rather than as written (for a file read)."""
    from corelib.errors import ConfigError

    folder = _resolved(spec_path).parent
    if follow_links:
        ok = _under(_resolved(path), folder)
    else:
        ok = any(_under(_lexical(path), top) for top in (folder, _lexical(spec_path).parent)) or \
            _under(_resolved(path), folder)
    if not ok:
        raise ConfigError(f"{spec_path}: {field} {path} is outside the spec's folder {folder}; a path in a spec "
                          f"must stay under its folder: give {flag} on the command line to use it")

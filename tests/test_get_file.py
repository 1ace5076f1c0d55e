"""get_file: cache, hashes, atomic downloads and safe extraction, against a local HTTP server."""

import hashlib
import io
import os
import socket
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from _file_server import FileServer
from corelib.downloads import fetch, get_file
from corelib.errors import ConfigError, DataError

PAYLOAD = b"dl get_file payload\n" * 500


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(members: dict, mode: str = "w:gz", extra=()) -> bytes:
    """A tar archive of {name: bytes}, plus TarInfo objects in `extra` (links, devices) added as they are."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    return buf.getvalue()


def zip_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def leftovers(folder) -> list:
    """Every file and folder under `folder`, relative: what a failed call left behind."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in dirs + files]
    return sorted(found)


@pytest.fixture
def server():
    with FileServer({"/data/payload.bin": PAYLOAD}) as s:
        yield s


def test_download_then_cache_hit_makes_no_second_request(server, tmp_path):
    url = server.url("/data/payload.bin")
    path = get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    assert path == str(tmp_path / "datasets" / "payload.bin")
    assert Path(path).read_bytes() == PAYLOAD
    again = get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    assert again == path
    assert server.requests["/data/payload.bin"] == 1
    assert leftovers(tmp_path) == ["datasets", os.path.join("datasets", "payload.bin")]  # no temporary file


def test_fname_cache_subdir_and_dl_home(server, tmp_path, monkeypatch):
    monkeypatch.setenv("DL_HOME", str(tmp_path / "home"))
    path = get_file("renamed.bin", server.url("/data/payload.bin"), cache_subdir="sub")
    assert path == str(tmp_path / "home" / "sub" / "renamed.bin")
    absolute = get_file(origin=server.url("/data/payload.bin"), cache_subdir=str(tmp_path / "abs"))
    assert absolute == str(tmp_path / "abs" / "payload.bin")


def test_md5_hash_and_auto_algorithm(server, tmp_path):
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert os.path.exists(get_file(origin=server.url("/data/payload.bin"), md5_hash=md5, cache_dir=tmp_path))
    os.remove(tmp_path / "datasets" / "payload.bin")
    assert os.path.exists(get_file(origin=server.url("/data/payload.bin"), file_hash=md5.upper(), cache_dir=tmp_path))


def test_hash_mismatch_on_download_names_url_and_hashes_and_leaves_nothing(server, tmp_path):
    url = server.url("/data/payload.bin")
    wrong = "0" * 64
    with pytest.raises(DataError) as info:
        get_file(origin=url, file_hash=wrong, cache_dir=tmp_path)
    message = str(info.value)
    assert url in message and wrong in message and sha256(PAYLOAD) in message and "\n" not in message
    assert leftovers(tmp_path) == ["datasets"]


def test_corrupt_cached_file_is_downloaded_again(server, tmp_path):
    url = server.url("/data/payload.bin")
    path = get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    with open(path, "r+b") as fh:
        fh.write(b"XX")
    with pytest.warns(UserWarning, match="does not match"):
        again = get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    assert Path(again).read_bytes() == PAYLOAD
    assert server.requests["/data/payload.bin"] == 2
    # without a hash, a cached file is used as it is
    get_file(origin=url, cache_dir=tmp_path)
    assert server.requests["/data/payload.bin"] == 2
    # a corrupt cached file whose new download fails too is not kept
    with open(path, "r+b") as fh:
        fh.write(b"XX")
    server.files["/data/payload.bin"] = b"changed upstream"
    with pytest.warns(UserWarning, match="does not match"), pytest.raises(DataError, match="does not match"):
        get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    assert leftovers(tmp_path) == ["datasets"]


def test_force_download(server, tmp_path):
    url = server.url("/data/payload.bin")
    get_file(origin=url, cache_dir=tmp_path)
    get_file(origin=url, cache_dir=tmp_path, force_download=True)
    assert server.requests["/data/payload.bin"] == 2


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar.bz2", "tar"])
def test_extract_returns_the_folder_and_does_not_unpack_twice(server, tmp_path, kind):
    members = {"top/a.txt": b"alpha", "top/sub/b.txt": b"beta"}
    if kind == "zip":
        data = zip_bytes(members)
    else:
        data = tar_bytes(members, {"tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar": "w"}[kind])
    server.files[f"/arch.{kind}"] = data
    folder = get_file("arch", server.url(f"/arch.{kind}"), extract=True, file_hash=sha256(data), cache_dir=tmp_path)
    assert folder == str(tmp_path / "datasets" / "arch")
    assert Path(os.path.join(folder, "top", "sub", "b.txt")).read_bytes() == b"beta"
    assert os.path.exists(tmp_path / "datasets" / "arch_archive")
    # Keras's naming: a name with a dot is the archive's, the folder is "<stem>_extracted"
    dotted = get_file(f"arch.{kind}", server.url(f"/arch.{kind}"), extract=True, cache_dir=tmp_path)
    assert dotted == str(tmp_path / "datasets" / "arch_extracted")
    os.remove(os.path.join(folder, "top", "a.txt"))
    assert get_file("arch", server.url(f"/arch.{kind}"), extract=True, cache_dir=tmp_path) == folder
    assert not os.path.exists(os.path.join(folder, "top", "a.txt"))  # a cache hit does not unpack again
    get_file("arch", server.url(f"/arch.{kind}"), extract=True, cache_dir=tmp_path, force_download=True)
    assert os.path.exists(os.path.join(folder, "top", "a.txt"))  # a new download does
    assert not [n for n in leftovers(tmp_path) if n.endswith((".part", ".old"))]


def test_extract_a_file_that_is_no_archive(server, tmp_path):
    with pytest.raises(DataError, match="not a tar or zip archive"):
        get_file("p", server.url("/data/payload.bin"), extract=True, cache_dir=tmp_path)
    assert not os.path.exists(tmp_path / "datasets" / "p")


def _symlink(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("case, archive", [
    ("zip ..", lambda: zip_bytes({"ok.txt": b"x", "../evil": b"pwned"})),
    ("zip absolute", lambda: zip_bytes({"/tmp/evil": b"pwned"})),
    ("tar absolute", lambda: tar_bytes({"ok.txt": b"x", "/tmp/evil": b"pwned"})),
    ("tar ..", lambda: tar_bytes({"a/../../evil": b"pwned"})),
    ("tar symlink escaping", lambda: tar_bytes({}, extra=[_symlink("link", "../../outside")])),
    ("tar absolute symlink", lambda: tar_bytes({}, extra=[_symlink("link", "/etc/passwd")])),
    ("tar hard link escaping", lambda: tar_bytes({}, extra=[_symlink("hard", "../x", tarfile.LNKTYPE)])),
    ("tar device", lambda: tar_bytes({}, extra=[_symlink("dev", "", tarfile.CHRTYPE)])),
])
def test_unsafe_members_refuse_the_archive_whole(server, tmp_path, case, archive):
    data = archive()
    server.files["/bad.archive"] = data
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="Refusing to extract"):
        get_file("bad", server.url("/bad.archive"), extract=True, cache_dir=cache)
    assert leftovers(cache / "datasets") == ["bad_archive"]  # the download, and no folder, whole or partial
    assert not os.path.exists(tmp_path / "evil") and not os.path.exists(tmp_path / "outside")


def test_symlink_inside_the_folder_is_fine(server, tmp_path):
    data = tar_bytes({"d/real.txt": b"r"}, extra=[_symlink("d/alias.txt", "real.txt")])
    server.files["/links.tar.gz"] = data
    folder = get_file("links", server.url("/links.tar.gz"), extract=True, cache_dir=tmp_path)
    assert Path(os.path.join(folder, "d", "alias.txt")).read_bytes() == b"r"


def test_http_404_is_one_line_naming_the_url(server, tmp_path):
    url = server.url("/missing.bin")
    with pytest.raises(DataError, match="404") as info:
        get_file(origin=url, cache_dir=tmp_path)
    assert url in str(info.value) and "\n" not in str(info.value)
    assert leftovers(tmp_path) == ["datasets"]


def test_connection_refused_is_one_line_naming_the_url(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(DataError, match="URL fetch failure") as info:
        get_file(origin=url, cache_dir=tmp_path)
    assert url in str(info.value)
    assert leftovers(tmp_path) == ["datasets"]


def test_timeout_is_one_line_naming_the_url(server, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "TIMEOUT", 0.1)
    server.slow["/data/payload.bin"] = 0.6
    with pytest.raises(DataError, match="timed out") as info:
        get_file(origin=server.url("/data/payload.bin"), cache_dir=tmp_path)
    assert server.url("/data/payload.bin") in str(info.value)
    assert leftovers(tmp_path) == ["datasets"]


def test_connection_closed_mid_body_leaves_nothing(server, tmp_path):
    server.truncated.add("/data/payload.bin")
    with pytest.raises(DataError, match="closed after") as info:
        get_file(origin=server.url("/data/payload.bin"), cache_dir=tmp_path)
    assert server.url("/data/payload.bin") in str(info.value)
    assert leftovers(tmp_path) == ["datasets"]


def test_ctrl_c_mid_download_leaves_nothing_and_keeps_the_old_file(server, tmp_path, monkeypatch):
    def interrupted(self):
        def update(n):
            raise KeyboardInterrupt
        return update

    url = server.url("/data/payload.bin")
    monkeypatch.setattr(fetch._Progress, "__enter__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        get_file(origin=url, cache_dir=tmp_path)
    assert leftovers(tmp_path) == ["datasets"]
    monkeypatch.undo()
    path = get_file(origin=url, cache_dir=tmp_path)
    monkeypatch.setattr(fetch._Progress, "__enter__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        get_file(origin=url, cache_dir=tmp_path, force_download=True)
    assert Path(path).read_bytes() == PAYLOAD  # the cached file is whole
    assert leftovers(tmp_path) == ["datasets", os.path.join("datasets", "payload.bin")]


@pytest.mark.parametrize("kwargs, match", [
    ({}, "origin"),
    ({"origin": "http://127.0.0.1:1/"}, "fname"),
    ({"origin": "http://127.0.0.1:1/a", "fname": "sub/a"}, "not a path"),
    ({"origin": "http://127.0.0.1:1/a", "file_hash": "abc"}, "hex digits"),
    ({"origin": "http://127.0.0.1:1/a", "hash_algorithm": "sha1"}, "hash_algorithm"),
    ({"origin": "http://127.0.0.1:1/a", "extract": True, "archive_format": "rar"}, "archive_format"),
    ({"origin": "no-scheme"}, "not a URL"),
])
def test_bad_arguments_are_config_errors(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        get_file(cache_dir=tmp_path, **kwargs)


def test_file_url_and_utils_reexport(tmp_path):
    from corelib import utils

    source = tmp_path / "local.bin"
    source.write_bytes(PAYLOAD)
    path = utils.get_file(origin=source.as_uri(), file_hash=sha256(PAYLOAD), cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == PAYLOAD


def test_progress_bar_only_on_a_terminal(server, tmp_path, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    get_file(origin=server.url("/data/payload.bin"), cache_dir=tmp_path / "a")
    assert capsys.readouterr().err == ""  # not a terminal: quiet

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    get_file(origin=server.url("/data/payload.bin"), cache_dir=tmp_path / "b")
    assert "Downloading payload.bin" in terminal.getvalue()

"""`get_file`: download a file once into a local cache, check its hash, unpack archives safely.

The contract is Keras 3's ``keras.utils.get_file``; the cache lives in
``$DL_HOME`` when that variable is set, else ``~/.dl`` (Keras: ``$KERAS_HOME``
or ``~/.keras``), under ``cache_subdir`` ("datasets").

What dl adds to that contract:

- a download is written to a temporary file beside its target, flushed to
  disk and renamed into place, so an interrupted or failed download (a
  network error, a short body, a wrong hash, Ctrl-C) leaves nothing at the
  target path;
- a fresh download whose hash differs from ``file_hash`` is a `DataError`
  naming the URL, the expected and the actual hash;
- an archive is unpacked into a temporary folder that is renamed into place,
  and refused whole (`DataError`) when a member would land outside it: an
  absolute path, a ``..`` component, a link pointing outside, a device file;
- network failures (an unreachable host, an HTTP error, a timeout) are a
  one-line `DataError` naming the URL.

`fetch` holds `get_file`, the hashing and the download; `extract` unpacks
archives and holds their safety checks (`fetch` imports `extract`, never the
other way round).
"""

from corelib.downloads.extract import extract_archive
from corelib.downloads.fetch import cache_home, get_file, hash_file, validate_file

__all__ = ["get_file", "cache_home", "hash_file", "validate_file", "extract_archive"]

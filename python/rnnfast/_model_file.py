"""The container of a model file (docs/model-file-format.md): a safetensors file whose header and data are checked
strictly, in an order that never takes more memory than the file's own size before the file has passed.

read_file() gives the tensors and the metadata of a valid file and raises ValueError (naming the file) for any
other; parse_json() is the JSON reading every JSON text of the format goes through; write_file() writes version 2
with its checksum, atomically. What the metadata means (the architecture, the compile settings) is saving.py's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
import tempfile
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

FORMAT_VERSION = "2"
READABLE_VERSIONS = ("1", "2")
MAX_HEADER_BYTES = 1 << 20
MAX_JSON_DEPTH = 64
MAX_DIMENSIONS = 8
CHECKSUM_PREFIX = b'{"__metadata__":{"file_sha256":"'
_DIGITS = 64
_DTYPES: dict[str, np.dtype] = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_NAMES = {v: k for k, v in _DTYPES.items()}
_TENSOR_MEMBERS = {"dtype", "shape", "data_offsets"}
_METADATA_MEMBERS = {
    "1": ({"format", "format_version", "architecture", "data_sha256"}, {"compile"}),
    "2": ({"file_sha256", "format", "format_version", "architecture"}, {"compile"}),
}
_HEX = set("0123456789abcdef")


class FileRefused(ValueError):
    """What is wrong with a file, without its name (read_file adds it)."""


# ---- JSON, strictly (RFC 8259, finite numbers, 64-bit integers, no repeated keys, bounded nesting) ------------
def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise FileRefused(f"the key {key!r} is repeated in an object")
        seen.add(key)
    return dict(pairs)


def _integer(text: str) -> int:
    if len(text) > 20:  # no int64 has more characters; the check keeps int() away from huge texts
        raise FileRefused(f"an integer out of the 64-bit range: {text[:24]}...")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise FileRefused(f"an integer out of the 64-bit range: {text}")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FileRefused(f"a number out of the double range: {text[:24]}")
    return value


def _no_constant(text: str) -> float:
    raise FileRefused(f"{text}, which JSON does not allow")


def _check_tree(value: Any, depth: int) -> None:
    """Nesting within MAX_JSON_DEPTH, and every string valid Unicode (a \\uD800 escape alone is not)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FileRefused("a lone surrogate escape in a string") from None
        return
    if not isinstance(value, (dict, list)):
        return
    if depth >= MAX_JSON_DEPTH:
        raise FileRefused(f"arrays and objects nested deeper than {MAX_JSON_DEPTH} levels")
    for key in value if isinstance(value, dict) else ():
        _check_tree(key, depth)
    for item in value.values() if isinstance(value, dict) else value:
        _check_tree(item, depth + 1)


def parse_json(text: str | bytes, what: str) -> Any:
    """One JSON text of the format, read as the specification says; FileRefused naming `what` otherwise."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FileRefused(f"has invalid JSON in {what}: not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_repeated_keys, parse_int=_integer, parse_float=_finite,
                           parse_constant=_no_constant)
        _check_tree(value, 0)
    except FileRefused as error:
        raise FileRefused(f"has invalid JSON in {what}: {error}") from None
    except RecursionError:
        raise FileRefused(f"has invalid JSON in {what}: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise FileRefused(f"has invalid JSON in {what}: {error}") from None
    return value


# ---- reading -------------------------------------------------------------------------------------------------
def _read_exactly(f: Any, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FileRefused(f"is truncated (it ends inside {what})")
    return data


def _check_metadata(metadata: Any) -> str:
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FileRefused("has metadata that is not an object of strings")
    if metadata.get("format") != "rnnfast":
        raise FileRefused("is a safetensors file but not an rnnfast model (its metadata has no format 'rnnfast')")
    version = metadata.get("format_version")
    if version not in READABLE_VERSIONS:
        raise FileRefused(f"has format version {version!r}; this rnnfast reads versions "
                          f"{' and '.join(READABLE_VERSIONS)}")
    required, optional = _METADATA_MEMBERS[version]
    missing, unknown = sorted(required - set(metadata)), sorted(set(metadata) - required - optional)
    if missing:
        raise FileRefused(f"has version {version} metadata without the members {missing}")
    if unknown:
        raise FileRefused(f"has version {version} metadata with unknown members {unknown}")
    return version


def _check_tensor_entry(key: str, entry: Any) -> tuple[np.dtype, tuple[int, ...], int, int]:
    if not isinstance(entry, dict) or set(entry) != _TENSOR_MEMBERS:
        raise FileRefused(f"has a tensor entry {key!r} without exactly the members dtype, shape, data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if type(dtype) is not str or dtype not in _DTYPES:
        raise FileRefused(f"has tensor {key!r} of dtype {dtype!r}; the format holds F32, F64 and I64")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise FileRefused(f"has tensor {key!r} whose shape is not a list of integers >= 0")
    if len(shape) > MAX_DIMENSIONS:
        raise FileRefused(f"has tensor {key!r} whose shape has more than {MAX_DIMENSIONS} dimensions")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int for n in offsets) \
            or not 0 <= offsets[0] <= offsets[1]:
        raise FileRefused(f"has tensor {key!r} whose data_offsets are not two integers 0 <= begin <= end")
    span = offsets[1] - offsets[0]
    resolved = _DTYPES[dtype]
    if math.prod(shape) * resolved.itemsize != span:
        raise FileRefused(f"has tensor {key!r} whose shape {shape} does not fit its {span} bytes")
    return resolved, tuple(shape), offsets[0], offsets[1]


def _checksum_v2(length: bytes, header: bytes, data: list[bytes]) -> str:
    """The version 2 checksum of a file of these parts (the data in one or more pieces)."""
    h = hashlib.sha256(length)
    h.update(header[: len(CHECKSUM_PREFIX)])
    h.update(b"0" * _DIGITS)
    h.update(header[len(CHECKSUM_PREFIX) + _DIGITS:])
    for piece in data:
        h.update(piece)
    return h.hexdigest()


HeaderCheck = Callable[[Mapping[str, str], Mapping[str, "tuple[tuple[int, ...], np.dtype]"]], None]


def _parse(f: Any, size: int, check_header: HeaderCheck | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if size < 8:
        raise FileRefused(f"is too short to be a model file ({size} bytes)")
    length = _read_exactly(f, 8, "the header length")
    (n,) = struct.unpack("<Q", length)
    if not 2 <= n <= MAX_HEADER_BYTES:
        raise FileRefused(f"declares a header of {n} bytes; a model file's is 2 to {MAX_HEADER_BYTES} bytes")
    if n > size - 8:
        raise FileRefused(f"is truncated or not a model file (a header of {n} bytes in a file of {size})")
    header_bytes = _read_exactly(f, n, "the header")
    header = parse_json(header_bytes, "its header")
    if not isinstance(header, dict) or "__metadata__" not in header:
        raise FileRefused("has a header that is not an object with __metadata__")
    metadata = header.pop("__metadata__")
    version = _check_metadata(metadata)
    entries = {key: _check_tensor_entry(key, entry) for key, entry in header.items()}
    end = 0
    for key, (_, _, begin, stop) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
        if begin != end:
            raise FileRefused(f"has tensor {key!r} at byte {begin} of the data where {end} was expected "
                              "(the tensors must tile the data without gaps or overlaps)")
        end = stop
    if 8 + n + end != size:
        raise FileRefused(f"has {size} bytes where its header describes {8 + n + end} (truncated or extended)")
    if version == "2":
        digits = header_bytes[len(CHECKSUM_PREFIX): len(CHECKSUM_PREFIX) + _DIGITS]
        if not header_bytes.startswith(CHECKSUM_PREFIX) or header_bytes[len(CHECKSUM_PREFIX) + _DIGITS:][:1] != b'"' \
                or not set(digits.decode("ascii", "replace")) <= _HEX:
            raise FileRefused(f"does not begin its header with {CHECKSUM_PREFIX.decode()} and 64 hex digits")
    if check_header is not None:  # what the header describes, before any of the data it declares is read
        check_header(metadata, {key: (shape, dtype) for key, (dtype, shape, _, _) in entries.items()})
    try:
        data = _read_exactly(f, end, "the tensors' data")
    except MemoryError:
        raise FileRefused(f"is too large to be read into memory ({end} bytes of data)") from None
    if f.read(1):
        raise FileRefused("changed while it was read (it grew)")
    if version == "2":
        if _checksum_v2(length, header_bytes, [data]) != metadata["file_sha256"]:
            raise FileRefused("is damaged: its bytes do not match the checksum in its header")
    elif hashlib.sha256(data).hexdigest() != metadata["data_sha256"]:
        raise FileRefused("is damaged: its tensors' bytes do not match the checksum in its header")
    # read-only views of the data where the byte order is the machine's (the readers of the tensors copy them)
    tensors = {key: _native(np.frombuffer(data, dtype, math.prod(shape), begin).reshape(shape))
               for key, (dtype, shape, begin, _) in entries.items()}
    return tensors, metadata


def _native(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def read_file(path: str | os.PathLike, check_header: HeaderCheck | None = None,
              ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a valid model file (version 1 or 2); ValueError naming the file otherwise.
    OSError for a path that cannot be opened. check_header(metadata, {tensor: (shape, dtype)}) may refuse the
    file (raising FileRefused) once its header has passed, before its data is read."""
    name = os.fspath(path)
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):  # a socket, a device, a FIFO: refused before it is opened
            raise FileRefused("is not a regular file")
        # O_NONBLOCK: should the path become a FIFO now, opening it does not wait for a writer (fstat refuses it)
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileRefused("is not a regular file")
            with os.fdopen(fd, "rb") as f:
                fd = -1  # the file object closes it
                return _parse(f, os.fstat(f.fileno()).st_size, check_header)
        finally:
            if fd >= 0:
                os.close(fd)
    except FileRefused as error:
        raise ValueError(f"{name!r} {error}") from None


# ---- writing -------------------------------------------------------------------------------------------------
def _encode(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> tuple[bytes, list[bytes]]:
    header: dict[str, Any] = {"__metadata__": {"file_sha256": "0" * _DIGITS, **metadata}}
    blobs, offset = [], 0
    for name, value in tensors.items():
        arr = np.asarray(value)
        dtype = np.dtype(arr.dtype).newbyteorder("<")
        if dtype not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {arr.dtype}; the file holds float32, float64 and int64")
        blob = np.ascontiguousarray(arr, dtype=dtype).tobytes()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as other writers do
    if len(encoded) > MAX_HEADER_BYTES:
        raise ValueError(f"the model's header would take {len(encoded)} bytes; a model file's is at most "
                         f"{MAX_HEADER_BYTES}")
    length = struct.pack("<Q", len(encoded))
    digest = _checksum_v2(length, encoded, blobs).encode()  # no joined copy of the data
    start = len(CHECKSUM_PREFIX)
    return length + encoded[:start] + digest + encoded[start + _DIGITS:], blobs


def write_file(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    """Writes a version 2 file: `metadata` (strings; format and format_version included) with the checksum put
    first, then `tensors`. Atomic: a new file beside the target, flushed to disk, renamed over it (a link at the
    target is replaced, not written through). The file keeps an existing target's permissions, else gets what
    open() would give it."""
    if "file_sha256" in metadata:
        raise ValueError("metadata must not hold file_sha256: write_file computes it")
    head, blobs = _encode(tensors, metadata)
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    # mkstemp creates the file exclusively under an unpredictable name: nothing planted there is followed
    fd, tmp = tempfile.mkstemp(prefix=".rnnfast-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # on the open file: a path could be swapped for a link meanwhile
                os.fchmod(f.fileno(), _mode_for(target))
            f.write(head)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _mode_for(target: str) -> int:
    try:
        info = os.lstat(target)
        if stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    except FileNotFoundError:
        pass
    return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux tells it without changing it
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def _fsync_folder(folder: str) -> None:
    """The rename reaches the disk too (where the system can open a folder)."""
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

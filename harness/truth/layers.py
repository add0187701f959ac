"""Undo the layers a vehicle wraps its data in (compression, base64, hex, URL-encoding, JSON
strings, protobuf, CBOR, MessagePack) and hand back every view worth searching, plus the parts that
no decoder opens and that look encrypted or compressed: opaque, so undecodable.

Bounded in depth, views and bytes, so a hostile payload cannot make the search explode."""

from __future__ import annotations

import base64
import binascii
import bz2
import functools
import json
import lzma
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np

from harness.net.classify import image_format
from harness.truth.positions import Number
from harness.truth.wire import read_cbor, read_msgpack, read_protobuf

MAX_DEPTH = 5
MAX_VIEWS = 256
MAX_OUTPUT = 16 << 20          # bytes a decompression may produce
OPAQUE_MIN = 64                # bytes: shorter fields are keys, digests, nonces, not payloads
_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{11,}={0,2}")
_HEXISH = re.compile(rb"(?:[0-9a-fA-F]{2})+")
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(0x80, 0x100)])  # UTF-8 beyond ASCII counts as text


@dataclass(frozen=True)
class View:
    data: bytes
    path: tuple[str, ...]   # layers undone to reach it, outermost first
    text: bool


@dataclass
class Unwrapped:
    views: list[View] = field(default_factory=list)
    numbers: list[tuple[list[Number], tuple[str, ...]]] = field(default_factory=list)  # (numbers, path)
    documents: list[Any] = field(default_factory=list)  # key-named documents (CBOR, MessagePack)
    opaque: list[str] = field(default_factory=list)


def unwrap(data: bytes, label: str, *, opaque_only: bool = False) -> Unwrapped:
    """Every view of `data` worth searching; with `opaque_only` (no ground truth to search for), only
    what could hide an opaque part of OPAQUE_MIN bytes is opened, which spares most of the work."""
    found = Unwrapped()
    _walk(data, (), 0, found, label, OPAQUE_MIN if opaque_only else 1)
    return found


def _walk(data: bytes, path: tuple[str, ...], depth: int, found: Unwrapped, label: str, smallest: int) -> None:
    if not data or len(found.views) >= MAX_VIEWS:
        return
    inflated = _decompress(data)
    if inflated is not None:
        name, inner = inflated
        if depth < MAX_DEPTH:
            _walk(inner, (*path, name), depth + 1, found, label, smallest)
        return
    if len(data) < smallest:
        return
    if looks_like_text(data):  # no image or recording is text, so text skips the media check
        found.views.append(View(data, path, True))
        if depth < MAX_DEPTH:
            _text_layers(data, path, depth, found, label, smallest)
        return
    if media_format(data):
        return  # an image or a recording: known content, nothing hidden in it to look for here
    found.views.append(View(data, path, False))
    opened = depth < MAX_DEPTH and _containers(data, path, depth, found, label, smallest)
    if not opened and len(data) >= OPAQUE_MIN and looks_random(data):
        where = f"{label}, {' in '.join(reversed(path))}" if path else label
        found.opaque.append(f"{len(data)} bytes ({where}) that no decoder opens and that look encrypted or "
                            "compressed")


def _text_layers(data: bytes, path: tuple[str, ...], depth: int, found: Unwrapped, label: str,
                 smallest: int) -> None:
    if b"%" in data:
        unquoted = unquote_to_bytes(data)
        if unquoted != data:
            _walk(unquoted, (*path, "URL-encoding"), depth + 1, found, label, smallest)
    if b"\\u" in data and data.lstrip()[:1] in (b"{", b"["):
        for text in _json_strings(data):
            _walk(text.encode("utf-8", "surrogatepass"), (*path, "JSON string"), depth + 1, found, label, smallest)
    cleaned = data.replace(b"\\/", b"/") if b"\\/" in data else data
    for token in _TOKEN.findall(cleaned)[:64]:
        if len(token) * 3 // 4 < smallest:  # decodes to fewer bytes than could matter
            continue
        decoded = _decode_token(token)
        if decoded is not None:
            _walk(decoded[1], (*path, decoded[0]), depth + 1, found, label, smallest)


@functools.lru_cache(maxsize=4096)
def _decode_token(token: bytes) -> tuple[str, bytes] | None:
    """A token's bytes if it is hex or base64 (identifiers repeat in every message: remembered)."""
    bare = token.rstrip(b"=")
    if _HEXISH.fullmatch(bare) and len(bare) >= 16:
        return "hex", binascii.unhexlify(bare)
    if len(bare) < 11:  # 8 bytes take 11 base64 characters
        return None
    url = b"-" in bare or b"_" in bare
    if url and (b"+" in bare or b"/" in bare):
        return None
    if bare == token and not any(97 <= c <= 122 for c in bare):
        # no lower-case letter and no padding: an identifier (a VIN, a serial), as base64 of random
        # bytes of this length almost never is
        return None
    try:
        padded = bare + b"=" * (-len(bare) % 4)
        decoded = base64.urlsafe_b64decode(padded) if url else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(decoded) < 8:
        return None
    return ("base64url" if url else "base64"), decoded


def _json_strings(data: bytes) -> list[str]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    strings: list[str] = []
    stack = [document]
    while stack and len(strings) < 256:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and len(item) >= 4:
            strings.append(item)
    return strings


def _containers(data: bytes, path: tuple[str, ...], depth: int, found: Unwrapped, label: str,
                smallest: int) -> bool:
    """CBOR, MessagePack or protobuf: walk what they hold; True if one of them opened the bytes."""
    for name, reader in (("CBOR", read_cbor), ("MessagePack", read_msgpack)):
        document = reader(data)
        if document is not None:
            found.documents.append(document)
            found.numbers.append((_numbers(document), (*path, name)))
            for value in _leaves(document):
                raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
                _walk(raw, (*path, name), depth + 1, found, label, smallest)
            return True
    message = read_protobuf(data)
    if message is not None:
        found.numbers.append((message.numbers, (*path, "protobuf")))
        for chunk in message.chunks:
            _walk(chunk, (*path, "protobuf"), depth + 1, found, label, smallest)
        return True
    return False


def _numbers(document: Any) -> list[Number]:
    """The numbers of a document in reading order (map values after their keys), for pairing."""
    numbers: list[Number] = []
    stack = [document]
    while stack and len(numbers) < 4096:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, float):
            numbers.append(Number(item, "double", False))
        elif isinstance(item, int) and not isinstance(item, bool):
            numbers.append(Number(float(item), "integer", True))
    return numbers


def _leaves(document: Any) -> list[str | bytes]:
    leaves: list[str | bytes] = []
    stack = [document]
    while stack and len(leaves) < 256:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(k for k in item if isinstance(k, str | bytes))
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str | bytes) and len(item) >= 4:
            leaves.append(item)
    return leaves


def _decompress(data: bytes) -> tuple[str, bytes] | None:
    try:
        if data[:2] == b"\x1f\x8b":
            return "gzip", _inflate(data, 16 + zlib.MAX_WBITS)
        if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
            return "zlib", _inflate(data, zlib.MAX_WBITS)
        if data[:3] == b"BZh":
            return "bzip2", _finished(bz2.BZ2Decompressor(), data)
        if data[:6] == b"\xfd7zXZ\x00":
            return "xz", _finished(lzma.LZMADecompressor(), data)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return None
    return None


def _inflate(data: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, MAX_OUTPUT)
    if not inflater.eof and len(out) < MAX_OUTPUT:
        # a header that happens to look right, then bytes that never finish a stream: not compressed
        raise zlib.error("incomplete stream")
    return out


def _finished(decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor, data: bytes) -> bytes:
    out = decompressor.decompress(data, MAX_OUTPUT)
    if not decompressor.eof and len(out) < MAX_OUTPUT:
        raise EOFError("incomplete stream")
    return out


_AUDIO_MAGIC = ((b"RIFF", 0, b"WAVE", 8), (b"ID3", 0, b"", 0), (b"OggS", 0, b"", 0), (b"fLaC", 0, b"", 0),
                (b"#!AMR", 0, b"", 0), (b"\x1aE\xdf\xa3", 0, b"", 0), (b"ftyp", 4, b"", 0))


def media_format(data: bytes) -> str | None:
    """Images, recordings and video by their leading bytes."""
    image = image_format(data)
    if image:
        return image
    for magic, at, second, second_at in _AUDIO_MAGIC:
        if data[at:at + len(magic)] == magic and (not second or data[second_at:second_at + len(second)] == second):
            return magic.decode("latin-1").strip("\x00#!")
    # raw MPEG audio frames (no ID3 tag) announce themselves in 11 bits, which random bytes match too
    # often to skip a search on: such a recording is searched and may be judged opaque, never passed
    return None


def looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if not sample:
        return False
    if len(sample.translate(None, _TEXT_BYTES)) > 0.05 * len(sample):  # what is left is not text
        return False
    if not sample.isascii():
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # a sample cut inside a character is still text
                return False
    return True


def entropy(data: bytes) -> float:
    """Shannon entropy of the bytes, in bits per byte."""
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    share = counts[counts > 0] / len(data)
    return float(-(share * np.log2(share)).sum())


def looks_random(data: bytes) -> bool:
    """Byte entropy close to what the same number of random bytes has: ciphertext or compressed data."""
    sample = data[:65536]
    expected = math.log2(min(len(sample), 256))
    return entropy(sample) >= 0.85 * expected and not is_numeric_array(sample)


def is_numeric_array(data: bytes) -> bool:
    """An array of float32 or float64 values of plausible magnitude (embeddings, signals): structured
    numbers, not ciphertext, though their bytes look busy."""
    for dtype in ("<f4", ">f4", "<f8", ">f8"):
        width = int(dtype[-1])
        if len(data) < 8 * width or len(data) % width:
            continue
        # the first values settle it for ciphertext, which fails at once; only a real array is read whole
        if _plausible(np.frombuffer(data, dtype=dtype, count=8)) and _plausible(np.frombuffer(data, dtype=dtype)):
            return True
    return False


def _plausible(values: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        magnitude = np.abs(values)
        return bool((np.isfinite(values) & ((magnitude == 0) | ((magnitude > 1e-6) & (magnitude < 1e6)))).all())

"""Synthetic sensor output of the reference vehicle: camera frames as small baseline JPEGs, a
driver's face template and voice clips as WAV, so uploads carry real encodings, not placeholders.

Deterministic from their inputs, so a run's payloads can be reproduced."""

from __future__ import annotations

import hashlib
import math
import struct

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_frame(level: int, comment: str = "") -> bytes:
    """An 8x8 grey baseline JPEG of brightness `level` (0-255), with `comment` in a COM segment.

    One block, quantisation 1, a DC Huffman table with 4-bit codes for categories 0-11 and an AC
    table holding only end-of-block: the smallest encoding every JPEG decoder accepts."""
    dc = 8 * (max(0, min(255, level)) - 128)  # DC coefficient of a flat 8x8 block after level shift
    category = abs(dc).bit_length()
    extra = dc if dc >= 0 else dc + (1 << category) - 1  # negative values are sent one's-complemented
    bits = f"{category:04b}" + (f"{extra:0{category}b}" if category else "") + "0"  # DC code, value, EOB
    bits += "1" * (-len(bits) % 8)  # pad with ones
    scan = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    parts = [
        _SOI,
        _segment(0xFE, comment.encode("utf-8")) if comment else b"",
        _segment(0xDB, b"\x00" + bytes([1] * 64)),                              # DQT: all ones
        _segment(0xC0, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01\x01\x11\x00"),  # SOF0: 8x8, one component
        _segment(0xC4, b"\x00" + bytes([0, 0, 0, 12] + [0] * 12) + bytes(range(12))),  # DHT DC
        _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00"),               # DHT AC: EOB only
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),                             # SOS
        scan,
        _EOI,
    ]
    return b"".join(parts)


def face_template(person: str, dimensions: int = 32) -> list[float]:
    """A face embedding as driver monitoring computes it: a unit vector, stable per person."""
    digest = hashlib.sha256(person.encode("utf-8")).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 + math.sin(i) / 4 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 5) for v in raw]


def voice_clip(seconds: float = 0.1, rate: int = 8000, pitch_hz: float = 180.0) -> bytes:
    """A mono 16-bit PCM WAV of a voiced tone, the shape of a short voice command."""
    samples = int(seconds * rate)
    pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch_hz * n / rate))) for n in range(samples))
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(pcm))
    return header + pcm

"""Identifiers in any bytes: each known string in its usual spellings (phone numbers with and without
country code, spaces or dashes), case-folded, and as MD5, SHA-1 or SHA-256 of the string, hex or raw.

All spellings of all identifiers go into one Aho-Corasick automaton, so a payload is read once
whatever the number of needles (pyahocorasick, in C)."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from dataclasses import dataclass

import ahocorasick

from harness.truth.model import Identifier

_HASHES = (("MD5", hashlib.md5), ("SHA-1", hashlib.sha1), ("SHA-256", hashlib.sha256))
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
_HEX = frozenset(b"0123456789abcdef")
_DIGITS = frozenset(b"0123456789")


@dataclass(frozen=True)
class StringHit:
    identifier: Identifier
    encoding: str     # e.g. "literal", "SHA-256 hex of the phone number"
    offset: int
    length: int = 0


@dataclass(frozen=True)
class _Needle:
    identifier: Identifier
    encoding: str
    boundary: frozenset[int]  # bytes that may not stand right before or after a match
    raw: bool                 # matched against the raw bytes (digests), not the case-folded text


def spellings(identifier: Identifier) -> list[tuple[str, str]]:
    """(spelling, how it is written) for an identifier; hashes are taken of each spelling."""
    value = identifier.value.strip()
    found = [(value, "literal")]
    if identifier.kind == "phone":
        found += [(s, "literal") for s in phone_spellings(value)]
    elif identifier.kind == "name":
        parts = value.split()
        if len(parts) > 1:
            found += [(" ".join(reversed(parts)), "literal"), ("".join(parts), "literal")]
    unique: dict[str, str] = {}
    for text, how in found:
        unique.setdefault(text, how)
    return list(unique.items())


def phone_spellings(value: str) -> list[str]:
    """A phone number as vehicles and backends write it: E.164 with or without '+', with '00', the
    national number alone, grouped by spaces or dashes as given."""
    groups = re.findall(r"\d+", value)
    digits = "".join(groups)
    country = groups[0] if value.lstrip().startswith(("+", "00")) and len(groups) > 1 else ""
    if value.lstrip().startswith("00") and country.startswith("00"):
        country = country[2:]
    national_groups = groups[1:] if country else groups
    national = "".join(national_groups)
    out = {digits, national}
    if country:
        out |= {f"+{country}{national}", f"{country}{national}", f"00{country}{national}",
                f"+{country} {national}", f"+{country}-{national}", f"({country}){national}",
                f"+{country} {' '.join(national_groups)}", f"+{country}-{'-'.join(national_groups)}"}
    if len(national_groups) > 1:
        out |= {" ".join(national_groups), "-".join(national_groups)}
    return sorted(s for s in out if sum(c.isdigit() for c in s) >= 7)


class StringMatcher:
    """Finds every spelling, case-folded, and every digest of every spelling, in one pass."""

    def __init__(self, identifiers: tuple[Identifier, ...]) -> None:
        self.folded = ahocorasick.Automaton()
        self.raw = ahocorasick.Automaton()
        self._count = 0
        for identifier in identifiers:
            what = _KIND_NAMES.get(identifier.kind, identifier.kind)
            for text, how in spellings(identifier):
                folded = text.casefold().encode("utf-8")
                if len(folded) >= 4:
                    self._add(self.folded, folded, _Needle(identifier, how, _boundary(folded), False))
                for variant in {text, text.casefold(), text.upper()}:
                    for name, function in _HASHES:
                        digest = function(variant.encode("utf-8")).digest()
                        self._add(self.folded, digest.hex().encode(),
                                  _Needle(identifier, f"{name} hex of the {what}", frozenset(_HEX), False))
                        self._add(self.raw, digest, _Needle(identifier, f"{name} of the {what}", frozenset(), True))
        for automaton in (self.folded, self.raw):
            if len(automaton):
                automaton.make_automaton()

    def _add(self, automaton: ahocorasick.Automaton, needle: bytes, entry: _Needle) -> None:
        key = needle.decode("latin-1")
        existing = automaton.get(key, None)
        if existing is None:
            automaton.add_word(key, (len(needle), [entry]))
        elif all(e.identifier != entry.identifier for e in existing[1]):
            existing[1].append(entry)
        self._count += 1

    def __bool__(self) -> bool:
        return self._count > 0

    def search_many(self, blobs: list[bytes]) -> list[tuple[int, StringHit]]:
        """(which blob, hit) over many blobs in one pass of each automaton; no hit spans two blobs."""
        if not blobs:
            return []
        starts = list(itertools.accumulate((len(b) + 1 for b in blobs[:-1]), initial=0))
        found = []
        for hit in self.search(b"\0".join(blobs)):
            which = bisect.bisect_right(starts, hit.offset) - 1
            end = hit.offset + hit.length
            if end <= starts[which] + len(blobs[which]):
                found.append((which, StringHit(hit.identifier, hit.encoding, hit.offset - starts[which], hit.length)))
        return found

    def search(self, data: bytes) -> list[StringHit]:
        hits: list[StringHit] = []
        if len(self.folded):
            folded = data.lower()
            text = folded.decode("latin-1")
            for end, (length, entries) in self.folded.iter(text):
                start = end - length + 1
                for entry in entries:
                    if _bounded(folded, start, end + 1, entry.boundary):
                        hits.append(StringHit(entry.identifier, entry.encoding, start, length))
        if len(self.raw) and len(data) >= 16:
            for end, (length, entries) in self.raw.iter(data.decode("latin-1")):
                hits += [StringHit(e.identifier, e.encoding, end - length + 1, length) for e in entries]
        return hits


_KIND_NAMES = {"vin": "VIN", "name": "name", "phone": "phone number", "email": "e-mail address",
               "id_number": "ID number", "text": "value"}


def _boundary(needle: bytes) -> frozenset[int]:
    """A digit string may not continue into more digits, a word into more letters or digits."""
    if all(b in _DIGITS for b in needle):
        return frozenset(_DIGITS)
    if needle[:1].isalnum() or needle[-1:].isalnum():
        return _ALNUM
    return frozenset()


def _bounded(data: bytes, start: int, end: int, boundary: frozenset[int]) -> bool:
    if not boundary:
        return True
    before = data[start - 1] if start > 0 else None
    after = data[end] if end < len(data) else None
    return before not in boundary and after not in boundary

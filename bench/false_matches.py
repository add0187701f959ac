"""False matches of the ground-truth search: how often random payloads (random bytes of 16 B to 2 KiB,
random JSON of a position upload's shape far from the track, random protobuf-looking bytes) are
taken for the vehicle's position or identity, and the search's throughput on them.

    .venv/bin/python bench/false_matches.py [--payloads 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.truth.recognise import Recogniser  # noqa: E402
from tests.truth_encodings import TRACK, TRUTH  # noqa: E402


def random_json(rng: random.Random) -> bytes:
    lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
    if abs(lat - 31.25) < 0.1 and abs(lon - 121.5) < 0.2:
        lat += 1.0  # the same shape, never the vehicle's position
    places = rng.randint(1, 8)
    return json.dumps({"t": rng.randint(0, 2**40), "speed": round(rng.uniform(0, 200), 1),
                       "geo": {"la": round(lat, places), "lo": round(lon, places)},
                       "id": f"{rng.getrandbits(128):032x}"}).encode()


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((16, 64, 256, 1024, 2048)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    recogniser = Recogniser(TRUTH)
    when = float(TRACK.times[len(TRACK) // 2])
    kinds = {"random bytes": random_bytes, "random JSON of the same shape": random_json}
    for name, make in kinds.items():
        payloads = [make(rng) for _ in range(args.payloads)]
        size = sum(map(len, payloads))
        matched, examples = 0, []
        start = time.perf_counter()
        for batch in range(0, len(payloads), 256):  # a flow's worth of messages at a time, as analyze does
            units = [(when, [(p, "body")]) for p in payloads[batch:batch + 256]]
            for payload, found in zip(payloads[batch:batch + 256], recogniser.inspect(units), strict=True):
                if found.categories:
                    matched += 1
                    examples.append((payload[:60], found.encodings))
        elapsed = time.perf_counter() - start
        print(f"{name}: {matched} of {len(payloads)} payloads matched ({matched / len(payloads):.4%}); "
              f"{size / elapsed / 1e6:.1f} MB/s, {len(payloads) / elapsed:,.0f} payloads/s")
        for example in examples[:5]:
            print("   e.g.", example)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

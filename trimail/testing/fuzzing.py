"""The shared driver of the fuzz targets in fuzz/: atheris when installed, else a
seeded mutation loop over the golden transcripts (bounded, so it can run anywhere)."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence


def mutate(rng: random.Random, data: bytes, tokens: Sequence[bytes]) -> bytes:
    """Apply 1-8 random edits: deletions, protocol *tokens*, flipped and random bytes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randint(0, len(buf))
        if choice < 0.3 and buf:
            del buf[position : position + rng.randint(1, 16)]
        elif choice < 0.6:
            buf[position:position] = rng.choice(tokens)
        elif choice < 0.8 and buf:
            buf[min(position, len(buf) - 1)] = rng.randrange(256)
        else:
            buf[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(buf)


def fallback(
    name: str,
    target: Callable[[bytes], None],
    corpus: Sequence[bytes],
    tokens: Sequence[bytes],
    iterations: int = 20_000,
    seed: int = 0,
) -> None:
    """Run *target* on every seed, then on *iterations* seeded mutations of them."""
    rng = random.Random(seed)
    for data in corpus:
        target(data)
    for _ in range(iterations):
        target(mutate(rng, rng.choice(corpus), tokens))
    print(f"{name}: {len(corpus)} seeds and {iterations} mutations passed")


def runs_from_args(args: Sequence[str], default: int = 20_000) -> int:
    """Iterations for the fallback: ``N`` or libFuzzer's ``-runs=N``."""
    for arg in args:
        value = arg.removeprefix("-runs=")
        if value.isdigit():
            return int(value)
    return default


def main(
    name: str,
    target: Callable[[bytes], None],
    seeds: Callable[[], list[bytes]],
    tokens: Sequence[bytes],
) -> None:
    """Entry point of a fuzz target script: atheris if importable, else `fallback`."""
    try:
        import atheris
    except ImportError:
        fallback(name, target, seeds(), tokens, runs_from_args(sys.argv[1:]))
        return
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()

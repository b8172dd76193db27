r"""A record nearly identical to an earlier one (a few words, punctuation or case changed).

Why it hurts training:
    Near-duplicates weigh like exact ones: templated generations, the same answer with one
    word swapped, a question asked twice with different punctuation. They crowd out diversity
    and make the model memorise the repeated phrasing. Detected with MinHash over character
    5-grams of the prompt and answer, and LSH to find candidate pairs. Records about
    different images are never near-duplicates of each other (templated questions about
    many pictures are how visual instruction data looks).

Bad:
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "1. Eat a balanced diet with plenty of fruit and vegetables. 2. Exercise regularly. 3. Get enough sleep."}
    {"instruction": "Give 3 tips for staying healthy.", "input": "", "output": "1. Eat a balanced diet with plenty of fruit and vegetables. 2. Exercise regularly. 3. Get enough sleep!"}

Good:
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "1. Eat a balanced diet with plenty of fruit and vegetables. 2. Exercise regularly. 3. Get enough sleep."}
    {"instruction": "Give three tips for saving money.", "input": "", "output": "1. Track what you spend each week. 2. Cook at home instead of eating out. 3. Cancel unused subscriptions."}

Options:
    threshold: the estimated Jaccard similarity of 5-gram sets at which two records are
        near-duplicates.
    min_chars: ignore records whose text is shorter than this (they match by chance).

Fix:
    Keep one of the two (or rewrite one so it adds something new).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.checks.consistency._keys import lanes, record_key
from dataprep.chunked import Chunked, first_of, merged
from dataprep.findings import Hit, Where
from dataprep.sample import Sample, answers, prompts

CODE = "DU02"
NAME = "near-duplicate"
FORMATS = ("*",)
KINDS = ("*",)

PERMUTATIONS = 32  # the estimate's standard error at Jaccard 0.9 is ~0.05
BANDS = 8  # 8 bands of 4 rows: a pair with Jaccard 0.75 is a candidate with p = 0.96
ROWS = PERMUTATIONS // BANDS
BATCH = 1024  # records per LSH indexing pass
SIGNATURE_CHUNK = 256  # texts per numpy pass: the shingle x permutation matrix stays ~5 MB
SHINGLE = 5
SAMPLE = np.uint64(1)  # keep the 5-grams whose hash has this low bit clear: half of them
PROMPT_CHARS, ANSWER_CHARS = 120, 240
_MASK = np.uint64(0xFFFFFFFF)
_rng = np.random.default_rng(20241127)  # fixed: signatures must agree across processes
# Multiply-shift hashing: random odd 64-bit multipliers; the product wraps modulo 2**64 and the
# high 32 bits are the permuted value (without the wrap the order would be preserved).
_A = (_rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_B = _rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64)
_P = np.uint64(1_000_003)
_LITTLE = sys.byteorder == "little"


@dataclass(frozen=True)
class Options:
    threshold: float = 0.75
    min_chars: int = 40


def _text(sample: Sample) -> str:
    prompt = " ".join((t.content or "") for t in prompts(sample))[:PROMPT_CHARS]
    answer = " ".join((t.content or "") for t in answers(sample))[:ANSWER_CHARS]
    return " ".join(f"{prompt} {answer}".lower().split())


MIN_INDEX_CHARS = 20  # shorter texts never enter the index
FLOOR = 0.5  # pairs below this are not kept; the threshold option is applied in finish
PAIR_CHUNK = 1 << 18  # candidate pairs scored per numpy pass (a few MB of comparisons)


def new_state(ctx) -> dict:
    return {
        "pending": [],  # (text, line, index, record key, images) waiting for the next batch
        # Every processed record as fixed-width columns; the LSH index is built in finish
        # (bands sorted in numpy), so chunks of a split file merge by appending.
        "rows": Chunked(
            signature=(np.uint32, (PERMUTATIONS,)),
            line=np.int64,
            index=np.int64,
            key=(np.uint64, (2,)),  # whole-record key: exact copies are not ours
            length=np.int64,
            media=np.uint64,  # its images, videos, audios: only records with equal ones compare
        ),
    }


def observe(state: dict, record, sample) -> None:
    if sample is None:
        return
    state["pending"].append(
        (_text(sample), sample.line, sample.index, lanes(record_key(sample)), sample.media_parts)
    )
    if len(state["pending"]) >= BATCH:
        _flush(state)


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch, with the batch's windowed texts and content keys: its rows are
    added at once (a text's signature does not depend on which others it is computed with)."""
    _flush(state)
    present = batch.present
    texts = [t for t in batch.near_texts(PROMPT_CHARS, ANSWER_CHARS) if t is not None]
    lines, indexes = batch.where
    media = [_media(s.media_parts) if s.images or s.videos or s.audios else 0
             for s in batch.samples if s is not None]  # fmt: skip
    _add(state, texts, lines[present], indexes[present], batch.content_lanes[present], media)


def _add(state: dict, texts: list[str], lines, indexes, keys, media: list[int]) -> None:
    """Processed records into the state's columns. `keys`: whole-record keys (exact-duplicate's),
    not the windowed text: copies that differ only beyond the window are near-duplicates, not
    exact ones. `media`: each record's `_media` key."""
    if not texts:
        return
    state["rows"].extend(
        signature=_signatures_of(texts),
        line=np.asarray(lines, dtype=np.int64),
        index=np.asarray(indexes, dtype=np.int64),
        key=np.asarray(keys, dtype=np.uint64).reshape(len(texts), 2),
        length=np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)),
        media=np.array(media, dtype=np.uint64),
    )


def _media(images: list[str]) -> int:
    """A 64-bit key of a record's image, video and audio references (0 for none)."""
    if not images:
        return 0
    data = "\x1f".join(images).encode("utf-8", "replace")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") | 1


def _signatures(texts: list[str]) -> np.ndarray:
    """MinHash signatures of character 5-gram sets, for a batch of texts at once."""
    signatures = np.full((len(texts), PERMUTATIONS), 0xFFFFFFFF, dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - SHINGLE + 1
    if count <= 0:
        return signatures
    h = codes[:count].copy()
    for j in range(1, SHINGLE):  # in place; wraps modulo 2**64, which is fine for hashing
        h *= _P
        h += codes[j : j + count]
    h ^= h >> np.uint64(29)
    h &= _MASK
    # Which text each 5-gram starts in, and whether it ends in the same text. Sampling by a
    # bit of the hash keeps the same 5-grams in every text, so Jaccard estimates stay unbiased.
    owner = np.repeat(np.arange(len(texts)), lengths)
    valid = (owner[:count] == owner[SHINGLE - 1 : SHINGLE - 1 + count]) & ((h & SAMPLE) == 0)
    # Positions, then take: a random boolean mask indexes 6x slower (branch misses).
    kept = np.flatnonzero(valid)
    h, owner = h.take(kept), owner.take(kept)
    if len(h) == 0:
        return signatures
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    # One contiguous row per permutation; the permuted value is the product's high 32 bits,
    # read in place as the odd (little-endian) or even 32-bit words: 3x faster than shifting
    # and casting a (5-grams, permutations) matrix.
    permuted = _A[:, None] * h[None, :]
    permuted += _B[:, None]
    high = permuted.view(np.uint32)[:, 1::2] if _LITTLE else permuted.view(np.uint32)[:, 0::2]
    signatures[owner[starts]] = np.minimum.reduceat(high, starts, axis=1).T
    return signatures


def _flush(state: dict) -> None:
    pending = state["pending"]
    if not pending:
        return
    state["pending"] = []
    texts, lines, indexes, keys, images = (list(column) for column in zip(*pending, strict=True))
    _add(state, texts, lines, indexes, keys, [_media(refs) for refs in images])


def _signatures_of(texts: list[str]) -> np.ndarray:
    # A few hundred texts at a time: the shingle x permutation products then stay in cache
    # (2.6x faster than 1,024 at once, measured).
    return np.concatenate(
        [_signatures(texts[i : i + SIGNATURE_CHUNK]) for i in range(0, len(texts), SIGNATURE_CHUNK)]
    )


def _pairs(rows: Chunked) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, earlier position, estimated similarity) of each record's most similar earlier
    record among its LSH candidates, where that similarity reaches FLOOR.

    A record's candidates are, in each band, the first indexed record whose band equals its
    own; exact copies (equal whole-record keys) and records about other images are not
    candidates. Of the most similar candidates the earliest is kept."""
    signatures, lengths = rows.column("signature"), rows.column("length")
    indexed = np.flatnonzero(lengths >= MIN_INDEX_CHARS)
    at, before, scores = _scored(rows, _linked(signatures, [indexed] * BANDS))
    best = _best(at, before, scores)
    return at[best], before[best], scores[best]


def _linked(signatures: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """(position, earlier position) pairs: in each band, every member row and the first
    member of its bucket. `members[band]`: the rows indexed in that band, in row order."""
    # Band by band (a band's keys are 8 bytes a record, its rows' values are never copied
    # whole).
    bands = [(rows, _band_key(signatures, rows, band)) for band, rows in enumerate(members)]
    return _linked_by_key(bands)


def _linked_by_key(bands: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """`_linked` from each band's (rows, band keys), rows in order: unique (row, first row
    of its bucket) pairs."""
    linked = [np.zeros((0, 2), dtype=np.int64)]
    for rows, keys in bands:
        first = first_of(keys)
        pick = first != np.arange(len(rows))
        linked.append(np.stack([rows[pick], rows[first[pick]]], axis=1))
    return np.unique(np.concatenate(linked), axis=0)


def _scored(rows: Chunked, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs that are not exact copies and share their images, with their
    estimated similarity."""
    signatures, keys, media = rows.column("signature"), rows.column("key"), rows.column("media")
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, len(pairs), PAIR_CHUNK):
        at, before = pairs[start : start + PAIR_CHUNK].T
        keep = (keys[at] != keys[before]).any(axis=1) & (media[at] == media[before])
        at, before = at[keep], before[keep]
        scores = (signatures[at] == signatures[before]).mean(axis=1)
        found.append((at, before, scores))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    at, before, scores = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return at, before, scores


def _best(at: np.ndarray, before: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Which pairs to keep, ordered by `at`: per record the highest score (the earliest
    candidate among equals), where it reaches FLOOR."""
    if not len(at):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((before, -scores, at))
    best = order[np.flatnonzero(np.r_[True, at[order][1:] != at[order][:-1]])]
    return best[scores[best] >= FLOOR]


def _band_key(signatures: np.ndarray, rows: np.ndarray, band: int) -> np.ndarray:
    """One 64-bit key per row of `rows`: its ROWS signature values in `band` hashed together."""
    key = np.zeros(len(rows), dtype=np.uint64)
    for r in range(band * ROWS, (band + 1) * ROWS):
        key = key * np.uint64(0x100000001B3) + signatures[rows, r].astype(np.uint64)
    return key


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    lines, records = offset
    _flush(a)
    _flush(b)
    a["rows"].absorb(b["rows"], {"line": lines, "index": records})
    return a


def partition(state: dict, parts: int) -> list[dict]:
    """Each band's buckets dealt to `parts` pieces by band key: per band, the band keys and
    record indexes of the rows in the piece's buckets (16 bytes a row and band). Signatures
    stay with the chunk: `lookup` gives the few that candidate pairs need."""
    _flush(state)
    rows = state["rows"]
    signatures, indexes = rows.column("signature"), rows.column("index")
    indexed = np.flatnonzero(rows.column("length") >= MIN_INDEX_CHARS)
    keys = [_band_key(signatures, indexed, band) for band in range(BANDS)]
    labels = [key % np.uint64(parts) for key in keys]
    pieces = []
    for part in range(parts):
        bands = [(key[label == part], indexes[indexed[label == part]])
                 for key, label in zip(keys, labels, strict=True)]  # fmt: skip
        pieces.append({"bands": bands})
    return pieces


def reduce(pieces: list[tuple[dict, tuple[int, int]]], opts: Options, ctx) -> np.ndarray:
    """One partition's candidate pairs from every chunk's piece of it: (record, earlier
    record) by file-wide record index, each record with the first of its bucket in a band."""
    bands = []
    for band in range(BANDS):
        keys = np.concatenate([piece["bands"][band][0] for piece, _ in pieces])
        indexes = np.concatenate([piece["bands"][band][1] + records
                                  for piece, (_, records) in pieces])  # fmt: skip
        bands.append((indexes, keys))
    return _linked_by_key(bands)


def lookup(state: dict, indexes: np.ndarray) -> Chunked:
    """A chunk's rows of these (chunk-relative) record indexes: what scoring a pair needs."""
    _flush(state)
    rows = state["rows"]
    return rows.take(np.searchsorted(rows.column("index"), indexes))


def combine(results: list[np.ndarray], opts: Options, ctx, fetch) -> Iterator[Hit]:
    """The hits of every partition's candidate pairs, scored on the rows `fetch(indexes)`
    gives (each chunk's `lookup`, with its offset), the best pair per record kept."""
    pairs = np.unique(np.concatenate([np.zeros((0, 2), dtype=np.int64), *results]), axis=0)
    if not len(pairs):
        return
    table = merged(fetch(np.unique(pairs.ravel())))  # every candidate's row, in record order
    indexes = table.column("index")
    at, before, scores = _scored(table, np.searchsorted(indexes, pairs))
    best = _best(at, before, scores)
    at, before = at[best], before[best]
    lines, lengths = table.column("line"), table.column("length")
    kept = {
        "at": indexes[at], "score": scores[best], "line": lines[at],
        "first_line": lines[before], "length": np.minimum(lengths[at], lengths[before]),
    }  # fmt: skip
    yield from _hits(kept, opts, ctx)


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    _flush(state)
    rows = state["rows"]
    lines, indexes, lengths = rows.column("line"), rows.column("index"), rows.column("length")
    at, before, scores = _pairs(rows)
    pairs = {
        "at": indexes[at], "score": scores, "line": lines[at], "first_line": lines[before],
        "length": np.minimum(lengths[at], lengths[before]),
    }  # fmt: skip
    yield from _hits(pairs, opts, ctx)


def _hits(pairs: dict, opts: Options, ctx) -> Iterator[Hit]:
    """The findings of the kept pairs (in record order) that reach the threshold."""
    for index, similarity, line, first_line, length in zip(
        pairs["at"].tolist(), pairs["score"].tolist(), pairs["line"].tolist(),
        pairs["first_line"].tolist(), pairs["length"].tolist(), strict=True,
    ):  # fmt: skip
        if similarity < opts.threshold or length < opts.min_chars:
            continue
        yield Hit(
            None,
            f"nearly the same record as line {first_line} (~{similarity:.0%} similar)",
            f"keep one of this record and line {first_line}, or make this one say something new",
            Where(ctx.path, line, index),
        )

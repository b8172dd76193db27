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

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dataprep.checks.consistency._keys import record_key
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


def new_state(ctx) -> dict:
    return {
        "pending": [],  # (text, line, index, record key, images) waiting for the next batch
        # every processed record's signature: rows [:size] of an array grown by doubling, so a
        # batch compares with all earlier ones without copying them
        "signatures": np.zeros((0, PERMUTATIONS), dtype=np.uint32),
        "size": 0,
        "where": [],  # (line, index) of every processed record, in order
        "texts": [],  # whole-record key of each processed record: exact copies are not ours
        "lengths": [],  # length of each processed text
        "media": [],  # the images each processed record names: only equal ones are compared
        "buckets": {},  # band hash -> position of the first record in that bucket
        "pairs": [],  # (position, earlier position, estimated similarity)
    }


def observe(state: dict, record, sample) -> None:
    if sample is None:
        return
    state["pending"].append(
        (_text(sample), sample.line, sample.index, record_key(sample), sample.images)
    )
    if len(state["pending"]) >= BATCH:
        _flush(state)


def observe_batch(state: dict, batch, records) -> None:
    """`observe` over a batch, with the batch's windowed texts and content keys."""
    pending = state["pending"]
    keys = batch.content_keys
    for sample, text, key in zip(
        batch.samples, batch.near_texts(PROMPT_CHARS, ANSWER_CHARS), keys, strict=True
    ):
        if sample is None:
            continue
        pending.append((text, sample.line, sample.index, key, sample.images))
        if len(pending) >= BATCH:
            _flush(state)
            pending = state["pending"]


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
    h, owner = h[valid], owner[:count][valid]
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
    texts = [item[0] for item in pending]
    # A few hundred texts at a time: the shingle x permutation products then stay in cache
    # (2.6x faster than 1,024 at once, measured).
    signatures = np.concatenate(
        [_signatures(texts[i : i + SIGNATURE_CHUNK]) for i in range(0, len(texts), SIGNATURE_CHUNK)]
    )
    _index(
        state,
        signatures,
        [(line, index) for _, line, index, _, _ in pending],
        # Whole-record keys (exact-duplicate's), not the windowed text: copies that differ
        # only beyond the window are near-duplicates, not exact ones.
        [item[3] for item in pending],
        [len(t) for t in texts],
        [item[4] for item in pending],
    )


def _index(state: dict, signatures: np.ndarray, where: list, texts: list, lengths: list,
           media: list) -> None:  # fmt: skip
    """Add processed records to the LSH buckets, keeping verified similar pairs."""
    base = len(state["where"])
    size = state["size"]
    store = state["signatures"]
    if size + len(signatures) > len(store):
        grown = np.zeros((max(2 * len(store), size + len(signatures), 1024), PERMUTATIONS),
                         dtype=np.uint32)  # fmt: skip
        grown[:size] = store[:size]
        state["signatures"] = store = grown
    store[size : size + len(signatures)] = signatures
    state["size"] = size + len(signatures)
    every = store[: state["size"]]
    state["where"].extend(where)
    state["texts"].extend(texts)
    state["lengths"].extend(lengths)
    state["media"].extend(media)
    buckets = state["buckets"]
    # One 64-bit int per band (its 4 rows hashed together, the band number mixed in): int keys
    # cost a third of (band, bytes) tuples in memory.
    keys = _band_keys(signatures).tolist()
    setdefault = buckets.setdefault
    for i in range(len(signatures)):
        if lengths[i] < MIN_INDEX_CHARS:
            continue
        position = base + i
        firsts = [setdefault(key, position) for key in keys[i]]
        if firsts.count(position) == BANDS:  # a bucket of its own in every band: no candidate
            continue
        candidates = {c for c in firsts if c != position}
        candidates = {c for c in candidates
                      if state["texts"][c] != texts[i] and state["media"][c] == media[i]}  # fmt: skip
        if not candidates:
            continue
        order = sorted(candidates)
        scores = (every[order] == signatures[i]).mean(axis=1)
        best = int(np.argmax(scores))  # the earliest of the most similar
        if scores[best] >= FLOOR:
            state["pairs"].append((position, order[best], float(scores[best])))


def _band_keys(signatures: np.ndarray) -> np.ndarray:
    bands = signatures.reshape(len(signatures), BANDS, ROWS).astype(np.uint64)
    key = np.zeros((len(signatures), BANDS), dtype=np.uint64)
    for r in range(ROWS):
        key = key * np.uint64(0x100000001B3) + bands[:, :, r]
    return key ^ (np.arange(BANDS, dtype=np.uint64) << np.uint64(56))


def merge(a: dict, b: dict, offset: tuple[int, int]) -> dict:
    """Replay b's records into a's index: pairs inside b and across a and b are both found."""
    lines, records = offset
    _flush(a)
    _flush(b)
    if b["size"]:
        where = [(line + lines, index + records) for line, index in b["where"]]
        signatures = b["signatures"][: b["size"]]
        _index(a, signatures, where, b["texts"], b["lengths"], b["media"])
    return a


def finish(state: dict, opts: Options, ctx) -> Iterator[Hit]:
    _flush(state)
    lengths = state["lengths"]
    for position, earlier, similarity in sorted(state["pairs"]):
        if similarity < opts.threshold or min(lengths[position], lengths[earlier]) < opts.min_chars:
            continue
        line, index = state["where"][position]
        first_line = state["where"][earlier][0]
        yield Hit(
            None,
            f"nearly the same record as line {first_line} (~{similarity:.0%} similar)",
            f"keep one of this record and line {first_line}, or make this one say something new",
            Where(ctx.path, line, index),
        )

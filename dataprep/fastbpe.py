"""An exact fast path for byte-level BPE tokenizers: `tiktoken` on the same ranks.

Measured on the 20,000 rendered records of bench/build_vs_llamafactory.py (Qwen2.5, 3.4M
tokens, one core): `tokenizers` 6.0 s, `tiktoken` 1.6 s, the same ids for every record. The
build uses tiktoken only where that equality is established:

- by the tokenizer's shape (`from_tokenizer`): an NFC normalizer (or none), a pre-tokenizer
  that is a regex Split (isolated) then ByteLevel without a prefix space, a BPE model without
  byte fallback, dropout or ignore_merges whose merges come in the order of their tokens' ids
  (tiktoken merges by rank), added tokens matched as written (no lstrip/rstrip/single_word,
  not normalized), and a post-processor that keeps offsets untrimmed;
- by the text: one that is not NFC goes to `tokenizers` (whose normalizer would change it);
- by the data (`Encoder`): the first batch, and 1 in 32 after it, is encoded both ways and
  compared, in a second process (`dataprep.vocabcheck`, which also derives the ranks, so that
  neither job holds the build's GIL); a shard is final only once its checks agree, and one
  difference starts the build over with `tokenizers` alone.

A `FastEncoding` answers `char_to_token` from the tokens' byte lengths, as `tokenizers`'
offsets do for a byte-level vocabulary (a character split across tokens belongs to the first).
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from pathlib import Path
from typing import Any

import numpy as np


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-ins for bytes, reversed (how byte-level vocabularies are written)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _supported(spec: dict) -> str | None:
    """The Split pattern when tiktoken reproduces this tokenizer.json, else None."""
    normalizer = spec.get("normalizer")
    if normalizer is not None and normalizer.get("type") != "NFC":
        return None
    pre = spec.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not parts or len(parts) != 2:
        return None
    split, byte_level = parts
    pattern = (split.get("pattern") or {}).get("Regex")
    if (
        split.get("type") != "Split"
        or pattern is None
        or split.get("behavior") != "Isolated"
        or split.get("invert")
        or byte_level.get("type") != "ByteLevel"
        or byte_level.get("add_prefix_space")
        or byte_level.get("use_regex")
    ):
        return None
    post = spec.get("post_processor")
    if post is not None and not (post.get("type") == "ByteLevel" and not post.get("trim_offsets")):
        return None
    model = spec.get("model") or {}
    if (
        model.get("type") != "BPE"
        or model.get("byte_fallback")
        or model.get("dropout")
        or model.get("ignore_merges")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        return None
    for added in spec.get("added_tokens", ()):
        if added.get("lstrip") or added.get("rstrip") or added.get("single_word"):
            return None
        if added.get("normalized"):
            return None
    return pattern


def _ranks_in_merge_order(model: dict) -> bool:
    vocab, last = model["vocab"], -1
    for merge in model["merges"]:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        rank = vocab.get(a + b)
        if rank is None or rank <= last:
            return False
        last = rank
    return True


Derived = tuple[str, dict[bytes, int], dict[str, int], bytes]
"""What tiktoken needs of a tokenizer.json: its Split pattern, the ranks of the tokens' bytes,
the added tokens, and every token's length in bytes (int64, by id). Plain values, so that
`dataprep.vocabcheck` can derive them in another process and send them here."""


def derive(spec: dict) -> Derived | None:
    """tiktoken's view of a parsed tokenizer.json, or None where tiktoken would not be exact."""
    pattern = _supported(spec)
    if pattern is None or not _ranks_in_merge_order(spec["model"]):
        return None
    # Each stand-in character to the byte it stands for, then Latin-1: one C call a token.
    table = str.maketrans({c: chr(b) for c, b in _byte_decoder().items()})
    ranks: dict[bytes, int] = {}
    for token, rank in spec["model"]["vocab"].items():
        try:
            ranks[token.translate(table).encode("latin-1")] = rank
        except UnicodeEncodeError:  # a character that stands for no byte: not byte-level
            return None
    special = {a["content"]: a["id"] for a in spec.get("added_tokens", ())}
    size = max([*ranks.values(), *special.values()]) + 1
    token_bytes = np.zeros(size, dtype=np.int64)
    for token, rank in ranks.items():
        token_bytes[rank] = len(token)
    for token, rank in special.items():
        token_bytes[rank] = len(token.encode("utf-8"))
    return pattern, ranks, special, token_bytes.tobytes()


class FastBPE:
    """tiktoken on a byte-level BPE vocabulary, with the byte length of every token."""

    def __init__(self, encoding: Any, token_bytes: np.ndarray, specials: dict[str, int]):
        self.encoding = encoding
        self.token_bytes = token_bytes  # token id -> its length in bytes
        self.specials = specials  # the added tokens, by text (tiktoken's special tokens)

    @classmethod
    def from_tokenizer(cls, backend: Any, source: Path | None = None) -> FastBPE | None:
        """The fast path for a `tokenizers.Tokenizer`, or None where it would not be exact
        (or tiktoken is not installed). `source`: the tokenizer.json it was loaded from
        (parsed again here, faster than serializing the loaded one)."""
        try:
            import tiktoken  # noqa: F401
        except ImportError:
            return None
        import orjson

        derived = derive(orjson.loads(source.read_bytes() if source is not None
                                      else backend.to_str()))  # fmt: skip
        return None if derived is None else cls.from_derived(derived)

    @classmethod
    def from_derived(cls, derived: Derived) -> FastBPE | None:
        """The fast path from `derive`'s ranks (None: tiktoken is missing or refuses them)."""
        try:
            import tiktoken
        except ImportError:
            return None
        pattern, ranks, special, sizes = derived
        try:
            encoding = tiktoken.Encoding(
                "dataprep", pat_str=pattern, mergeable_ranks=ranks, special_tokens=special
            )
        except (ValueError, RuntimeError):  # a pattern tiktoken's regex engine does not take
            return None
        return cls(encoding, np.frombuffer(sizes, dtype=np.int64), special)

    def encode(self, texts: list[str]) -> list[FastEncoding | None]:
        """Each text's encoding, or None for a text the fast path does not take (not NFC).

        The texts go to tiktoken as one string, joined by a special token none of them holds:
        one call, so the GIL is released for the whole batch (a call per text would take it
        back for every text, stalling beside the build's Python), and tiktoken encodes the
        text between special tokens on its own, so each text's tokens are its own."""
        out: list[FastEncoding | None] = [None] * len(texts)
        taken = [k for k, text in enumerate(texts)
                 if text.isascii() or unicodedata.is_normalized("NFC", text)]  # fmt: skip
        if not taken:
            return out
        separator = next((s for s in self.specials if not any(s in texts[k] for k in taken)), None)
        if separator is None:  # every special token occurs in the batch: a call per text
            for k in taken:
                ids = self.encoding.encode(texts[k], allowed_special="all")
                ends = np.cumsum(self.token_bytes[np.asarray(ids, dtype=np.int64)]).tolist()
                out[k] = FastEncoding(ids, texts[k], ends, 0, 0)
            return out
        joined = separator.join(texts[k] for k in taken)
        ids = self.encoding.encode(joined, allowed_special="all")
        array = np.asarray(ids, dtype=np.int64)
        ends = np.cumsum(self.token_bytes[array]).tolist()  # the byte where each token ends
        cuts = np.flatnonzero(array == self.specials[separator]).tolist()
        start = 0
        for k, stop in zip(taken, [*cuts, len(ids)], strict=True):
            base = ends[start - 1] if start else 0  # the text starts after the separator
            out[k] = FastEncoding(ids[start:stop], texts[k], ends, start, base)
            start = stop + 1
        return out


class FastEncoding:
    """What the build reads of a `tokenizers.Encoding`: ids, and the token of a character.

    `ends` holds the byte where each token of a whole batch ends; this text's tokens are
    `ends[first:first + len(ids)]`, its bytes counted from `base`."""

    __slots__ = ("_base", "_chars", "_ends", "_first", "ids")

    def __init__(self, ids: list[int], text: str, ends: list[int], first: int, base: int):
        self.ids = ids
        self._ends, self._first, self._base = ends, first, base
        self._chars = None if text.isascii() else text  # byte offsets are char offsets in ASCII

    def evidence(self, text: str) -> tuple[list[int], list[int], list[int | None]]:
        """What `agrees` compares with `tokenizers`: the ids, and the first token of each
        character either side of every `<` (where chat markup, and so the message spans,
        start and end) and at both ends of `text`."""
        points = {0, len(text) - 1}
        at = text.find("<")
        while at >= 0:
            points.update((at - 1, at))
            at = text.find("<", at + 1)
        chars = sorted(c for c in points if 0 <= c < len(text))
        firsts = [first for first, _ in self.token_ranges([(c, c + 1) for c in chars])]
        return self.ids, chars, firsts

    def __len__(self) -> int:
        return len(self.ids)

    def char_to_token(self, char: int) -> int | None:
        if char < 0:
            return None
        at = char if self._chars is None else len(self._chars[:char].encode("utf-8"))
        first = self._first
        token = bisect_right(self._ends, at + self._base, first, first + len(self.ids)) - first
        return token if token < len(self.ids) else None

    def token_ranges(self, ranges: list[tuple[int, int]]) -> list[tuple[int | None, int | None]]:
        """(first, last) token of each character range [start, end) of the text, as
        `char_to_token` of its first and last character (every character of a byte-level
        encoding has one)."""
        token = self.char_to_token
        return [(token(start), token(end - 1)) if start < end else (None, None)
                for start, end in ranges]  # fmt: skip


def agrees(exact: Any, ids: list[int], chars: list[int], firsts: list[int | None]) -> bool:
    """Whether a `tokenizers` encoding has the fast path's ids and first tokens at `chars`
    (`FastEncoding.evidence`)."""
    if exact.ids != ids:
        return False
    return all(first == exact.char_to_token(c) for c, first in zip(chars, firsts, strict=True))

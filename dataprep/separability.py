"""How well a simple classifier tells two sets of answers apart (for off-policy-chosen).

Each answer becomes a small vector of style features (length, lines, Chinese share, Markdown
headings, lists, bold, code, emoji, final punctuation, how it opens) and hashed vocabulary
(words, or characters for Chinese). A logistic regression, fitted with 5-fold cross-validation,
scores every answer on data it was not fitted on; the AUC of those scores says how separable
the sets are: 0.5 is indistinguishable, 1.0 is a different distribution altogether. The
features that differ most are described in words, so the finding says *how* they differ.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from dataprep import profile

VOCAB_BUCKETS = 256
OPENING_BUCKETS = 32
_WORD = re.compile(r"[a-z]+|[\u4e00-\u9fff]")
_HEADING = re.compile(r"^#{1,6}\s", re.M)
_BULLET = re.compile(r"^\s*[-*•]\s", re.M)
_NUMBERED = re.compile(r"^\s*\d+[.)、]\s?", re.M)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
# Named style features, in vector order; the rest of the vector is openings and vocabulary.
STYLE = (
    "length",
    "lines",
    "chinese",
    "headings",
    "bullets",
    "numbered",
    "bold",
    "code",
    "emoji",
    "exclamations",
    "ends-with-punctuation",
)


def opening(text: str) -> str:
    """The first word, lower-cased (or first two Chinese characters): 'sure', '好的'."""
    return profile.opening(text).lower()


def features(text: str) -> np.ndarray:
    v = np.zeros(len(STYLE) + OPENING_BUCKETS + VOCAB_BUCKETS, dtype=np.float32)
    chars = max(len(text), 1)
    cjk = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    v[0] = np.log1p(len(text))
    v[1] = np.log1p(text.count("\n"))
    v[2] = cjk / chars
    v[3] = bool(_HEADING.search(text))
    v[4] = bool(_BULLET.search(text))
    v[5] = bool(_NUMBERED.search(text))
    v[6] = "**" in text
    v[7] = "```" in text
    v[8] = bool(_EMOJI.search(text))
    v[9] = min(text.count("!") + text.count("！"), 10) / 10
    v[10] = text.rstrip()[-1:] in '.。!！?？)）"”'
    v[len(STYLE) + zlib.crc32(opening(text).encode()) % OPENING_BUCKETS] = 1.0
    base = len(STYLE) + OPENING_BUCKETS
    words = _WORD.findall(text.lower())
    if words:
        buckets = np.fromiter((zlib.crc32(w.encode()) % VOCAB_BUCKETS for w in words), np.int64)
        counts = np.bincount(buckets, minlength=VOCAB_BUCKETS).astype(np.float32)
        v[base:] = np.sqrt(counts / len(words))
    return v


@dataclass(frozen=True)
class Separation:
    auc: float
    scores: np.ndarray  # out-of-fold probability of "second set" for every second-set answer
    differences: list[str]  # the style features that differ most, in words


def separate(first: list[str], second: list[str], seed: int = 0) -> Separation:
    """How separable `second` (e.g. DPO chosen answers) is from `first` (e.g. SFT answers)."""
    x = np.stack([features(t) for t in first + second])
    y = np.concatenate([np.zeros(len(first)), np.ones(len(second))])
    folds = np.random.default_rng(seed).permutation(len(y)) % 5
    scores = np.zeros(len(y))
    for k in range(5):
        train, test = folds != k, folds == k
        if not test.any() or len(set(y[train])) < 2:
            continue
        mean, std = x[train].mean(0), x[train].std(0) + 1e-6
        w, b = _fit((x[train] - mean) / std, y[train])
        scores[test] = 1 / (1 + np.exp(-((x[test] - mean) / std) @ w - b))
    return Separation(auc(scores, y), scores[len(first) :], _differences(first, second, x, y))


def _fit(x: np.ndarray, y: np.ndarray, steps: int = 8, l2: float = 1.0) -> tuple:
    """L2-regularised logistic regression by Newton's method, classes weighted equally."""
    x = np.hstack([x, np.ones((len(x), 1), dtype=x.dtype)]).astype(np.float64)
    weight = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    ridge = np.full(x.shape[1], l2)
    ridge[-1] = 0.0  # the intercept is not shrunk
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (weight * (p - y)) + ridge * w
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + np.diag(ridge + 1e-9)
        w -= np.linalg.solve(hessian, gradient)
    return w[:-1], w[-1]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return 0.5
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2)[inverse]  # tied scores share their mean rank
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _differences(first: list[str], second: list[str], x: np.ndarray, y: np.ndarray) -> list[str]:
    a, b = x[y == 0], x[y == 1]
    out: list[tuple[float, str]] = []
    la, lb = np.median([len(t) for t in first]), np.median([len(t) for t in second])
    spread = x[:, 0].std() + 1e-6
    out.append((abs(np.median(b[:, 0]) - np.median(a[:, 0])) / spread,
                f"median length {lb:,.0f} vs {la:,.0f} characters"))  # fmt: skip
    shares = {
        "chinese": "mostly Chinese",
        "headings": "Markdown headings",
        "bullets": "bullet lists",
        "numbered": "numbered lists",
        "bold": "**bold**",
        "code": "code blocks",
        "emoji": "emoji",
        "ends-with-punctuation": "ending on punctuation",
    }
    for name, words in shares.items():
        i = STYLE.index(name)
        pa = (a[:, i] > 0.5).mean() if len(a) else 0.0
        pb = (b[:, i] > 0.5).mean() if len(b) else 0.0
        out.append((abs(pb - pa) * 2, f"{words} in {pb:.0%} vs {pa:.0%}"))
    word, share_b = _top_opening(second)
    share_a = _share(first, word)
    if word and share_b - share_a > 0.1:
        out.append(((share_b - share_a) * 2,
                    f"opening with {word!r} in {share_b:.0%} vs {share_a:.0%}"))  # fmt: skip
    out.sort(key=lambda t: -t[0])
    return [text for score, text in out[:3] if score > 0.2]


def _top_opening(texts: list[str]) -> tuple[str, float]:
    counts: dict[str, int] = {}
    for t in texts:
        word = opening(t)
        if word:
            counts[word] = counts.get(word, 0) + 1
    if not counts:
        return "", 0.0
    word = max(counts, key=counts.__getitem__)
    return word, counts[word] / len(texts)


def _share(texts: list[str], word: str) -> float:
    return sum(opening(t) == word for t in texts) / max(len(texts), 1)

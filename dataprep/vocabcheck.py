"""The tiktoken fast path's second process: it derives tiktoken's ranks from tokenizer.json,
then loads `tokenizers` and checks the build's fast encodings against it.

Both jobs hold the GIL for their whole length (neither library releases it while loading a
vocabulary): about 0.7 s each on Qwen2.5's 151,643 tokens, which in the build's own process
stall every stage beside them. Here they run on another core, and the build never loads
`tokenizers` unless a text needs it (one that is not NFC) or this process fails.

`Checker` is the build's side. The protocol, over the child's stdin and stdout, is one
marshal'd value per message, each after its 4-byte length:
- in, first: the tokens whose ids the build needs (end of turn, image) -> out `fastbpe.derive`'s
  tuple (None: no fast path for this tokenizer) and those ids, looked up as `tokenizers`'
  `token_to_id` does (the added tokens, then the vocabulary);
- in `(texts, evidence)` (per text `FastEncoding.evidence`: ids, characters, first tokens)
  -> out the index of the first text `tokenizers` encodes otherwise, or -1;
- in None, or the end of stdin: exit.
"""

from __future__ import annotations

import marshal
import struct
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import IO, Any

from dataprep.fastbpe import Derived, agrees, derive


def _send(stream: IO[bytes], value: Any) -> None:
    data = marshal.dumps(value)
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    (size,) = struct.unpack("<I", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return marshal.loads(data)


def main(source: str) -> None:
    """The child: derive, then check batches until told to stop."""
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    wanted = _receive(inp)
    import orjson

    spec = orjson.loads(Path(source).read_bytes())  # parsed once, for the ranks and the ids
    derived = derive(spec)
    _send(out, (derived, _token_ids(spec, wanted) if derived is not None else {}))
    if derived is None:
        return
    del derived, spec
    _release_memory()  # the parsed tokenizer.json and the ranks: ~100 MB this process keeps
    import queue
    import threading

    requests: queue.Queue = queue.Queue()

    def read() -> None:  # at once, so that the build never waits to send while this loads
        while True:
            try:
                request = _receive(inp)
            except EOFError:
                request = None
            requests.put(request)
            if request is None:
                return

    threading.Thread(target=read, daemon=True).start()
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(source)
    while True:
        request = requests.get()
        if request is None:
            return
        texts, evidence = request
        exact = backend.encode_batch(texts, add_special_tokens=False)
        bad = next((k for k, (e, ev) in enumerate(zip(exact, evidence, strict=True))
                    if not agrees(e, *ev)), -1)  # fmt: skip
        del exact, evidence, texts
        _release_memory()  # a batch's encodings: the build's own memory peaks meanwhile
        _send(out, bad)


def _release_memory() -> None:
    """Give freed memory back to the system (glibc keeps it otherwise), so the build's two
    processes together stay near what one used."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the memory stays here
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _token_ids(spec: dict, tokens: list[str]) -> dict[str, int | None]:
    added = {a["content"]: a["id"] for a in spec.get("added_tokens", ())}
    vocab = spec["model"]["vocab"]
    return {t: added[t] if t in added else vocab.get(t) for t in tokens}


class Checker:
    """The build's handle on the second process: the derived ranks, then checks whose
    answers are collected when the build needs them (`confirm`, before a shard is final)."""

    def __init__(self, source: Path, tokens: list[str]):
        self._process = subprocess.Popen(
            [sys.executable, "-m", "dataprep.vocabcheck", str(source)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._pending: deque[list[str]] = deque()
        _send(self._process.stdin, list(tokens))  # type: ignore[arg-type]

    def derived(self) -> tuple[Derived | None, dict[str, int | None]]:
        """The ranks (None: no fast path) and the ids of the tokens asked for. Raises
        OSError/EOFError when the process failed."""
        return _receive(self._process.stdout)  # type: ignore[arg-type]

    def submit(self, texts: list[str], evidence: list) -> None:
        _send(self._process.stdin, (texts, evidence))  # type: ignore[arg-type]
        self._pending.append(texts)

    def confirm(self) -> str | None:
        """Wait for every check sent: the first text encoded otherwise, or None when all
        agree. Raises OSError/EOFError when the process failed (the texts are then
        `unconfirmed`, to check another way)."""
        while self._pending:
            bad = _receive(self._process.stdout)  # type: ignore[arg-type]
            texts = self._pending.popleft()
            if bad >= 0:
                return texts[bad]
        return None

    def unconfirmed(self) -> list[list[str]]:
        """The batches sent whose answers never came."""
        pending, self._pending = list(self._pending), deque()
        return pending

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            try:
                _send(process.stdin, None)  # type: ignore[arg-type]
                process.stdin.close()  # type: ignore[union-attr]
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main(sys.argv[1])

"""Token and template checks: they read the lengths measured with `--tokenizer` (or `--lengths`).

Each is dataset-level and active only when lengths are measured; the measuring itself (render,
batch-encode, map labels) happens once per file in dataprep.lengths, not in each rule.
"""


def new_state(ctx) -> dict | None:
    """Active only when lengths are measured."""
    return {} if ctx.setup is not None else None

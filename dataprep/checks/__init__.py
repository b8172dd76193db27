"""The registry of checks: one module per rule, listed here once.

A check module has `CODE` (stable, never reused), `NAME` (kebab-case, the contract), a docstring
that is its user documentation (summary, Why it hurts training, Bad, Good, Options, Fix),
`FORMATS`/`KINDS` it applies to, a frozen `Options` dataclass, and one or more of:

- `FIX`: the default fix for problems of this name met while reading or normalising (parse and
  schema rules: the reader sees the broken bytes, the check module documents and reports them);
- `check(sample, opts) -> Iterator[Hit]`: a per-record check over the normalised Sample;
- `prefilter(opts)`: a necessary condition of `check`, over a batch's text columns (a polars
  boolean expression per text row, or a function of the text frame giving one): the engine
  (`dataprep/engine.py`) runs `check` only on the records it selects;
- `new_state(ctx)` (None: not active for this file) and `finish(state, opts, ctx)`, with
  optionally `observe(state, record, sample)` and `merge(a, b, offset)`: a dataset-level check
  whose state is passed in and merged across `--jobs` chunks (`offset`: lines and records
  before chunk b); `observe_batch(state, batch, records)` feeds the same state from a batch's
  columns (`observe` stays the definition the differential tests compare it with). Checks
  that need only per-file counts read `ctx.stats` in `finish` and do not observe, which keeps
  the linter's fast path open.

`dataprep.checks.shape` names these shapes as Protocols; the engine dispatches on them.

Severity and options live in `rules/*.yaml`, not here. Checks say what is wrong and where inside
the record (a Hit); the linter adds provenance and severity to make the Finding.
"""

from __future__ import annotations

from types import ModuleType

from dataprep.checks.config import column_reset, unknown_column
from dataprep.checks.consistency import (
    conflicting_duplicate,
    exact_duplicate,
    near_duplicate,
    style_inconsistent,
)
from dataprep.checks.content import (
    ai_disclaimer,
    echo_output,
    empty_instruction,
    empty_output,
    encoding_noise,
    html_markup,
    language_mismatch,
    placeholder_output,
    repetition,
    script_content,
    template_tokens,
)
from dataprep.checks.images import (
    image_outside_root,
    image_placeholder_misplaced,
    image_token_mismatch,
    image_too_large,
    media_outside_root,
    media_token_mismatch,
    missing_image,
    missing_media,
    unchecked_media,
    unreadable_image,
    unreadable_media,
)
from dataprep.checks.parse import (
    duplicate_key,
    invalid_json,
    invalid_utf8,
    json_array_file,
    missing_field,
    mixed_format,
    not_an_object,
    schema_drift,
    unknown_format,
    wrong_type,
)
from dataprep.checks.preference import (
    extreme_length_ratio,
    identical_pair,
    invalid_kto_label,
    kto_imbalance,
    length_bias,
    near_identical_pair,
    off_policy_chosen,
    pair_prefix,
)
from dataprep.checks.reasoning import empty_reasoning, reasoning_dropped, unbalanced_think
from dataprep.checks.structure import (
    empty_conversation,
    invalid_role,
    no_final_response,
    prompt_mismatch,
    role_order,
)
from dataprep.checks.tokens import (
    exceeds_cutoff,
    missing_eos,
    no_trainable_tokens,
    template_mismatch,
    template_not_prefix_stable,
)
from dataprep.checks.tools import (
    invalid_tool_call,
    invalid_tools,
    tool_arguments_mismatch,
    tool_turn_order,
    unknown_tool,
)

ALL: tuple[ModuleType, ...] = (
    invalid_json,
    invalid_utf8,
    not_an_object,
    unknown_format,
    missing_field,
    wrong_type,
    mixed_format,
    json_array_file,
    duplicate_key,
    schema_drift,
    empty_conversation,
    invalid_role,
    role_order,
    no_final_response,
    prompt_mismatch,
    column_reset,
    unknown_column,
    empty_output,
    empty_instruction,
    placeholder_output,
    html_markup,
    script_content,
    template_tokens,
    ai_disclaimer,
    encoding_noise,
    echo_output,
    repetition,
    language_mismatch,
    unbalanced_think,
    empty_reasoning,
    reasoning_dropped,
    exact_duplicate,
    near_duplicate,
    conflicting_duplicate,
    style_inconsistent,
    invalid_tools,
    invalid_tool_call,
    unknown_tool,
    tool_arguments_mismatch,
    tool_turn_order,
    identical_pair,
    pair_prefix,
    extreme_length_ratio,
    near_identical_pair,
    length_bias,
    off_policy_chosen,
    invalid_kto_label,
    kto_imbalance,
    missing_image,
    image_outside_root,
    unreadable_image,
    image_too_large,
    image_token_mismatch,
    image_placeholder_misplaced,
    media_token_mismatch,
    missing_media,
    media_outside_root,
    unreadable_media,
    unchecked_media,
    exceeds_cutoff,
    template_mismatch,
    template_not_prefix_stable,
    missing_eos,
    no_trainable_tokens,
)

BY_NAME: dict[str, ModuleType] = {}
for _module in ALL:
    for _key in (_module.NAME, _module.CODE, *getattr(_module, "ALIASES", ())):
        BY_NAME[_key] = _module
        BY_NAME[_key.lower()] = _module


def get(code_or_name: str) -> ModuleType | None:
    """The check with this name, code or alias (case-insensitive), or None."""
    return BY_NAME.get(code_or_name) or BY_NAME.get(code_or_name.lower())

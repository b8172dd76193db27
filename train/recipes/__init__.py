"""One module per training method, each a `main(cfg)` that reads top to bottom as the
method: output folder, tokenizer, data, seed, model, engine, loop, save."""

from __future__ import annotations

from train.recipes import dpo, llava, sft

RECIPES = {"sft": sft.main, "dpo": dpo.main, "llava": llava.main}  # by `method:`

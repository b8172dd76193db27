"""LLaMA-Factory configuration checks: dataset_info.json entries that silently drop data."""

"""Reasoning-trace checks: think blocks and what training sees of them."""

import re

THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.S)  # an inline block and its reasoning

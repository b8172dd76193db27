"""Reasoning-trace checks: think blocks and what training sees of them."""

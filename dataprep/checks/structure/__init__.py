"""Conversation structure checks: roles, their order, and where the answer is."""

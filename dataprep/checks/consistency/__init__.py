"""Consistency checks across records: duplicates, conflicting answers, answer styles."""

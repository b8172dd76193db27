"""Content checks: what the text of each record says, and what it should not contain."""

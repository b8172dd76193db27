"""Parse and schema checks: can the file be read, and does each record have a known shape."""

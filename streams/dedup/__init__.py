"""The dedup stage: exact, near and spun copies against an index of earlier articles."""

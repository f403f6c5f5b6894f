"""Foundations every layer uses: errors, paths, names, random streams, schema fields and compilation."""

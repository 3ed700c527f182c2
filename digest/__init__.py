"""Digest stage: change detection, selection, summaries and rendering."""

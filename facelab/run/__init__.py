"""A run: its directory and databases, the day-by-day pipeline, the watchlist, the review queue and
retrospective search over the archive."""

"""Searching embeddings: the one match rule and the percent scales (:mod:`.percent`), helpers
every FAISS file shares (:mod:`.index`), the watchlist search (:mod:`.watchlist`) and the
day-sharded sighting archive (:mod:`.archive`)."""

"""Records and rules every layer answers to: the audit log, image provenance, and retention.

:mod:`.audit` and :mod:`.provenance` sit low (every layer writes audit records and checks
provenance); :mod:`.retention` sits above the run store, which it purges and verifies.
"""

"""The day-sharded sighting archive: one FAISS shard per simulated day.

- :mod:`~facelab.search.archive.kinds`: the shard kinds (building, adding to, reading, trimming
  and searching one shard per kind).
- :mod:`~facelab.search.archive.cache`: :class:`ShardCache`, the loaded shards, owned by an
  archive or shared by its owner.
- :mod:`~facelab.search.archive.archive`: :class:`DayShardArchive` (file naming, mutation,
  search over the days).
"""

from facelab.search.archive.archive import (
    ArchiveResult,
    DayShardArchive,
    ShardInfo,
)
from facelab.search.archive.cache import DEFAULT_CACHE_SHARDS, ShardCache
from facelab.search.archive.kinds import (
    ARCHIVE_KINDS,
    ShardSpec,
    bytes_per_vector,
    default_nprobe,
    shard_kind,
)

__all__ = [
    "ARCHIVE_KINDS",
    "DEFAULT_CACHE_SHARDS",
    "ArchiveResult",
    "DayShardArchive",
    "ShardCache",
    "ShardInfo",
    "ShardSpec",
    "bytes_per_vector",
    "default_nprobe",
    "shard_kind",
]

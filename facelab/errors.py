"""The exception tree. The CLI turns each class into a one-line message and an exit code."""


class FacelabError(Exception):
    """Base of every error facelab raises on purpose."""

    exit_code = 1


class ConfigError(FacelabError):
    """A scenario or policy file is missing, unreadable or invalid (names the key or file)."""

    exit_code = 2


class ModelError(FacelabError):
    """A model file is missing, altered, or cannot be fetched or loaded (names the file)."""

    exit_code = 3


class ImageError(FacelabError):
    """An image is unreadable, of the wrong kind, or holds no usable face."""

    exit_code = 4


class ProvenanceError(ImageError):
    """An image was not made by facelab, or its provenance record does not verify."""

    exit_code = 5


class RunError(FacelabError):
    """A run directory is missing, foreign, of another format version, inconsistent, or
    damaged (a file of it missing, empty, truncated or foreign: the message names the file)."""

    exit_code = 6


class AuditError(FacelabError):
    """The audit log fails verification, or an action lacks its required stated reason."""

    exit_code = 7


class DeviceError(FacelabError):
    """An accelerator was asked for and cannot be used."""

    exit_code = 8


class DataError(FacelabError):
    """Numeric input is invalid (NaN or infinite embeddings, wrong shapes or dtypes)."""

    exit_code = 9


class RetentionError(FacelabError):
    """A purge cannot be done, or `retention verify` found purged bytes or leftovers."""

    exit_code = 10


class ConflictError(FacelabError):
    """A change was refused because someone else changed the same thing first (a review of an
    alert that another reviewer has already decided)."""

    exit_code = 11


class EngineError(FacelabError):
    """The Ray engine was asked for and cannot be used: Ray is not installed, the cluster
    address cannot be reached, or the cluster lost work beyond its retries."""

    exit_code = 12


class RetentionParameterError(ConfigError, RetentionError):
    """A retention option or deletion-proof file is invalid (``--now``, ``--retention-days``,
    ``--keep-proof``, ``--proof``): a parameter error (exit code 2), not a failed proof."""

    exit_code = 2

"""facelab command line. Each command group lives in its own module."""

from facelab.cli._app import app, main

from facelab.cli import models_cmd  # noqa: F401,E402
from facelab.cli import synth_cmd  # noqa: F401,E402
from facelab.cli import world_cmd  # noqa: F401,E402
from facelab.cli import run_cmd  # noqa: F401,E402
from facelab.cli import search_cmd  # noqa: F401,E402
from facelab.cli import retention_cmd  # noqa: F401,E402
from facelab.cli import audit_cmd  # noqa: F401,E402
from facelab.cli import sweep_cmd  # noqa: F401,E402
from facelab.cli import report_cmd  # noqa: F401,E402
from facelab.cli import demo_cmd  # noqa: F401,E402
from facelab.cli import bench_cmd  # noqa: F401,E402
from facelab.cli import case_cmd  # noqa: F401,E402

__all__ = ["app", "main"]

"""facelab command line. Each command group lives in its own module."""

from facelab.cli import (
    audit_cmd,  # noqa: F401,E402
    bench_cmd,  # noqa: F401,E402
    case_cmd,  # noqa: F401,E402
    demo_cmd,  # noqa: F401,E402
    models_cmd,  # noqa: F401,E402
    photo_cmd,  # noqa: F401,E402
    profiles_cmd,  # noqa: F401,E402
    report_cmd,  # noqa: F401,E402
    retention_cmd,  # noqa: F401,E402
    run_cmd,  # noqa: F401,E402
    search_cmd,  # noqa: F401,E402
    serve_cmd,  # noqa: F401,E402
    sweep_cmd,  # noqa: F401,E402
    synth_cmd,  # noqa: F401,E402
    world_cmd,  # noqa: F401,E402
)
from facelab.cli._app import app, main
from facelab.cli.helptext import unwrap_help

unwrap_help(app)

__all__ = ["app", "main"]

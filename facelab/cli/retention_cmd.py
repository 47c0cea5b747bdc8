"""CLI commands: retention.

``facelab purge RUN`` deletes what the run's retention policy says must go and prints the report;
``facelab retention verify RUN [--proof FILE]`` checks that it is gone; ``facelab retention
window RUN`` prints the archive window a search looks at; ``facelab retention cases RUN`` and
``facelab retention close-case RUN CASE`` manage the case holds. See :mod:`facelab.governance.retention`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app
from facelab.cli.search_cmd import AddressOpt, EngineOpt
from facelab.errors import RetentionError, RetentionParameterError
from facelab.governance import retention
from facelab.governance.audit import default_actor
from facelab.run.store import RunStore, require_run
from facelab.run.window import archive_window

retention_app = typer.Typer(
    name="retention",
    help="Retention: verify deletion, show the archive window, release case holds.",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")


def _outside(run: Path, path: Path) -> Path:
    """``path`` resolved, refusing anything inside the run directory."""
    full = path.expanduser().resolve()
    if full == run.resolve() or run.resolve() in full.parents:
        raise RetentionParameterError(
            f"--keep-proof {path} is inside the run directory; a proof must be kept outside "
            "the run it is about"
        )
    return full


def _held(run: Path, engine: str, address: str | None):
    """RUN's archive on the Ray cluster (``--engine ray``), or None."""
    from facelab.run.ray_engine import check_engine

    if check_engine(engine, address) != "ray":
        return None
    from facelab.run.ray_archive import RayShardArchive

    with RunStore(run, readonly=True) as s:
        return RayShardArchive(s.archive_dir, s.archive_options(), address=address)


@app.command("purge")
def purge_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.", show_default=False)],
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            parser=options.count("--retention-days"),
            help="Window in days (default: the run's "
            "retention.days); also caps the unmatched/matched limits.",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            metavar="YYYY-MM-DD",
            help="Purge as of this simulated date (default: the end of the last simulated day).",
        ),
    ] = None,
    keep_proof: Annotated[
        Path | None,
        typer.Option(
            "--keep-proof",
            metavar="PATH",
            help="Write fingerprints of the purged bytes here (outside RUN; merged into "
            "an existing proof of the same run), for `facelab retention verify RUN "
            "--proof PATH`. For auditors: it holds no purged bytes, but the frame ids "
            "it fingerprints can be guessed, so delete it after verification.",
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Stated reason (audit log).")
    ] = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
) -> None:
    """Delete sightings, embeddings (whole day shards), frames, clips and alerts past retention.

    Prints the report (counts per kind, bytes freed, oldest timestamp remaining) and records it
    in the run (table purges) and its audit log. With --engine ray, the copies of purged or
    trimmed day shards held on the Ray cluster's nodes are deleted too.
    """
    run = require_run(run)
    held = _held(run, engine, address)  # an unreachable cluster: nothing is deleted
    proof = None
    proof_path = None
    if keep_proof is not None:
        proof_path = _outside(run, keep_proof)
        proof = retention.DeletionProof.load(proof_path) if proof_path.exists() else None
        proof = proof or retention.DeletionProof()
    try:
        report = retention.purge(
            run, now=now, retention_days=retention_days, actor=default_actor(),
            reason=reason or "retention policy", proof=proof, always_record=True,
        )  # fmt: skip
    finally:
        if proof is not None and len(proof):
            proof.save(proof_path)
    for line in report.lines():
        print(line)
    if held is not None:
        try:
            gone = held.sync()
        finally:
            held.release()
        print(f"ray nodes        {len(gone)} held file(s) of purged or rewritten days deleted")
    if proof is not None:
        print(f"proof            {len(proof)} needle(s) in {proof_path} (fingerprints only, no "
              "purged bytes; for auditors, delete it after verification)")  # fmt: skip
        print(f"check with       facelab retention verify {run} --proof {proof_path}")


@retention_app.command("verify")
def verify_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.", show_default=False)],
    proof: Annotated[
        Path | None,
        typer.Option(
            "--proof",
            metavar="PATH",
            help="Deletion proof from `facelab purge "
            "--keep-proof`: scan every file of RUN for the purged bytes.",
        ),
    ] = None,
    files: Annotated[bool, typer.Option("--files", help="List every file scanned.")] = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
) -> None:
    """Check that nothing past retention is left in RUN; with --proof, scan every byte for it.

    With --engine ray, the day shards held on the Ray cluster's nodes are checked (and scanned)
    too; a finding names the node and the day. Exits with code 10 if purged bytes are found or
    a check fails.
    """
    run = require_run(run)
    held = _held(run, engine, address)
    try:
        rep = retention.verify(run, proof, held=held)
    finally:
        if held is not None:
            held.release()
    print(f"run              {rep.run}")
    print(f"archive window   {rep.window}")
    for c in rep.checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<24} {c.detail}")
    if rep.needles:
        print(f"scanned          {len(rep.files)} file(s), {rep.bytes_scanned:,} bytes, for "
              f"{rep.needles} needle(s) of purged embeddings and frames")  # fmt: skip
        for f in rep.files:
            if f.count or files:
                kinds = ", ".join(f"{k} {v}" for k, v in sorted(f.found.items())) or "clean"
                print(f"{'FOUND' if f.count else 'ok   '} {f.path}  ({f.size:,} bytes): "
                      f"{f.count} needle(s) found{f' [{kinds}]' if f.count else ''}")  # fmt: skip
        n_files = sum(1 for f in rep.files if f.count)
        print(f"purged bytes     {rep.found} needle(s) found in {n_files} file(s)")
    else:
        print("structural checks only: pass --proof PATH (from `facelab purge --keep-proof`) to "
              "scan file contents for purged bytes")  # fmt: skip
    if not rep.ok:
        bad = [c.name for c in rep.checks if not c.ok]
        what = []
        if rep.found:
            what.append(f"{rep.found} purged needle(s) found")
        if bad:
            what.append(f"failed: {', '.join(bad)}")
        raise RetentionError(f"retention verify FAILED for {run}: {'; '.join(what)}")
    print("retention verify OK")


@retention_app.command("window")
def window_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.", show_default=False)],
) -> None:
    """Print the archive window a search of RUN looks at."""
    with RunStore(run, readonly=True) as store:
        win = archive_window(store)
    if win is None:
        print("archive window   empty (no simulated day inside the retention window)")
    else:
        print(f"archive window   {win.describe()}  (days {win.first_day}..{win.last_day})")


@retention_app.command("cases")
def cases_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.", show_default=False)],
) -> None:
    """List the cases that confirmed alerts are attached to, and whether they hold them."""
    with RunStore(run, readonly=True) as store:
        rows = retention.cases(store)
    if not rows:
        print("no cases")
    for case_id, status, n in rows:
        print(f"{case_id:<24} {status:<8} {n} confirmed alert(s)"
              f"{' held' if status != 'closed' and n else ''}")  # fmt: skip


@retention_app.command("close-case")
def close_case_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.", show_default=False)],
    case_id: Annotated[str, typer.Argument(metavar="CASE", help="Case id.", show_default=False)],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Stated reason (audit log).")
    ] = None,
) -> None:
    """Close a case: what it held is purged at the next purge past its limits."""
    with RunStore(run) as store:
        n = retention.close_case(store, case_id, actor=default_actor(), reason=reason)
    print(f"case {case_id} closed ({n} confirmed alert(s) released; run `facelab purge {run}`)")

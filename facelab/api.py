"""Python API: one function or :class:`Run` method for every command of the command line.

Example::

    import facelab.api as fl
    from facelab.search.percent import shown

    fl.run("classroom", "runs/demo")                 # facelab run classroom --out runs/demo
    fl.people("classroom")                           # facelab world classroom --people
    lab = fl.open_run("runs/demo")
    lab.photo(12, "photo.png")                       # facelab photo runs/demo 12 --out photo.png
    lab.watchlist()                                  # facelab watchlist runs/demo
    res = lab.search("photo.png", reason="class demo", sheet="hits.png")
    for hit in res.hits:
        print(hit.camera, hit.time, shown(hit.percent), hit.frame)   # "84.3 %"
    queue = lab.alerts(min_percent=50)               # facelab alerts runs/demo --min-percent 50
    lab.review(queue[0].id, "rejected", reason="not the same person")   # or "A-0-0005"
    lab.sweep("50:80:5")                             # facelab sweep runs/demo
    lab.purge(now="2026-05-01"); lab.retention_verify().ok

Names follow the commands: ``facelab X`` is ``X`` here (a module function for commands on a
scenario, a :class:`Run` method for commands on a run), ``facelab G S`` is ``G_S``
(``retention verify`` → :meth:`Run.retention_verify`, ``models list`` → :func:`models_list`);
``tests/test_api.py`` checks that every command has its counterpart. Each method opens the
run directory, does one thing and closes it again, so a notebook and the command line can work
on the same run. The work is done by the library (:mod:`facelab.run`, :mod:`facelab.lab`,
:mod:`facelab.governance`); this module only delegates (plus the pre-flight checks shared with
the CLI, so that a refused command writes nothing). ``facelab.lab.jsonview`` turns the results
into the JSON that ``--format json`` prints.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from facelab.governance import audit
from facelab.run.store import AUDIT_LOG, RunStore
from facelab.truth import TruthStore
from facelab.vision.probe import FaceModels

__all__ = [
    "Run", "open_run", "run", "world", "case", "calibrate", "demo", "frames", "load_scenario",
    "models_fetch", "models_list", "synth_faces", "synth_stats", "profiles", "profile_fit",
    "profile_predict",
]  # fmt: skip


DEMO_SCENARIO = "classroom"
"""The scenario of ``facelab demo``."""
DEMO_THRESHOLDS = "50:80:5"
"""The thresholds of the demo's sweep and report."""


def _check_options(**values) -> None:
    """Range-check the numeric options the CLI checks too (``ConfigError``, exit code 2):
    NaN, infinities, negatives and integers past 64 bits are refused; ``None`` is left out."""
    from facelab.config.validate import option_int, option_number

    for name, value in values.items():
        if value is None:
            continue
        if name == "min_percent":
            option_number(name, value, 0, 100)
        elif name == "seconds_per_candidate":
            option_number(name, value, 0, 86400, lo_open=True)
        else:  # top, limit, rank, retention_days: counts
            option_int(name, value, 1)


def load_scenario(scenario, *, seed: int | None = None, days: int | None = None,
             threshold: float | None = None, system: str | None = None):  # fmt: skip
    """A scenario (preset name, TOML path or Scenario) with the command line's overrides.

    ``threshold`` replaces ``[thresholds] alert_percent`` (the alert threshold of every camera
    without its own ``per_camera`` value) and is validated as that key is in a scenario file.
    ``system`` (``--system PROFILE``) sets ``[system] profile`` and embedding mode. A scenario
    with a system profile is checked against the shipped profiles and alerts with the
    profile's percent mapping (:func:`_with_system`). Raises ``ConfigError`` for invalid values.
    """
    from facelab.config import scenario as config

    sc = scenario if isinstance(scenario, config.Scenario) else config.load_scenario(scenario)
    overrides = {k: v for k, v in (("seed", seed), ("days", days)) if v is not None}
    if threshold is not None:
        import dataclasses

        from facelab.config.validate import ErrorContext, optional, percent

        value = optional(ErrorContext(sc.source), {"alert_percent": threshold}, "thresholds",
                         "alert_percent", percent, None)  # fmt: skip
        overrides["thresholds"] = dataclasses.replace(sc.thresholds, alert_percent=value)
    if system is not None:
        from facelab.config.sections import SystemSpec
        from facelab.config.validate import ErrorContext, optional, safe_name

        name = optional(ErrorContext(sc.source), {"profile": system}, "system", "profile",
                        safe_name, None)  # fmt: skip
        overrides.update(system=SystemSpec(profile=name), mode="embedding")
    return _with_system(sc.with_overrides(**overrides) if overrides else sc)


def _with_system(sc):
    """``sc`` checked against its ``[system] profile`` (a shipped profile with an operator
    percent), alerting with that profile's percent mapping; unchanged without a profile."""
    if sc.system.profile is None:
        return sc
    import dataclasses

    from facelab.errors import ConfigError
    from facelab.profiles.emulate import runnable
    from facelab.profiles.profile import get_profile, shipped

    name, files = sc.system.profile, shipped()
    if name not in files:
        raise ConfigError(f"{sc.source}: system.profile: unknown system profile {name!r} "
                          f"(choose from {', '.join(files)})")  # fmt: skip
    try:
        profile = runnable(get_profile(name))
    except ConfigError as exc:
        raise ConfigError(f"{sc.source}: system.profile: {exc}") from None
    if sc.thresholds.mapping == profile.scale.percent:
        return sc
    mapping = dataclasses.replace(sc.thresholds, mapping=profile.scale.percent)
    return sc.with_overrides(thresholds=mapping)


def _transfer(sc, mode: str | None):
    """The score transfer of ``sc``'s system profile (None without one); a profile needs
    embedding mode."""
    if sc.system.profile is None:
        return None
    from facelab.errors import ConfigError
    from facelab.profiles.emulate import build_transfer
    from facelab.profiles.profile import get_profile

    if mode is not None and mode != "embedding":
        raise ConfigError(f"--system {sc.system.profile} drives an embedding-mode run, not {mode}")
    return build_transfer(get_profile(sc.system.profile), [c.quality for c in sc.cameras])


def run(scenario, out: str | Path, *, mode: str | None = None, device: str = "cpu",
        seed: int | None = None, days: int | None = None, threshold: float | None = None,
        on_progress=None, on_step=None, backend: str | None = None,
        engine: str = "local", address: str | None = None,
        system: str | None = None):  # fmt: skip
    """Run (or resume) a scenario into ``out``, as ``facelab run``; returns the RunSummary.

    ``system`` (``--system PROFILE``, or the scenario's ``[system] profile``) emulates a
    deployed system: the twin's candidate scores are carried onto the profile's scale
    (:mod:`facelab.profiles.emulate`) and ``run.json`` records the profile.

    ``scenario`` is a preset name, a TOML path or a :class:`facelab.config.scenario.Scenario`;
    ``seed``, ``days`` and ``threshold`` override it (:func:`load_scenario`). ``on_progress(day, done, total)`` is called as frames are processed. The retention purge
    runs after each simulated day and once more at the end (a no-op unless a purge was cut
    short by a crash), exactly as on the command line. ``on_step(name, day)`` is called after
    each durable step of the run and of its purges (the kill tests stop the process there).
    The ground truth goes to the run's :class:`~facelab.truth.TruthStore`. ``backend``
    (``"auto"``, ``"onnxruntime"``, ``"openvino"``; default the scenario's ``[detection]
    backend``) is where the models run; it and its precision are recorded in ``run.json``.
    ``engine`` ``"ray"`` computes the days on a Ray cluster (:mod:`facelab.run.ray_engine`;
    ``address`` names it, default a local Ray instance) with the same result as ``"local"``;
    ``device="cuda"`` on a cluster that reports no GPU is an ``EngineError`` before anything
    is written.
    """
    from facelab.governance import retention
    from facelab.run.pipeline import run_scenario
    from facelab.run.ray_engine import check_engine

    sc = load_scenario(scenario, seed=seed, days=days, threshold=threshold, system=system)
    transfer = _transfer(sc, mode)
    remote = None
    if check_engine(engine, address) == "ray":  # connected before the run directory is made
        from facelab.run.ray_engine import RayEngine, check_device, connect

        check_device(connect(address), device, address)
        remote = RayEngine(address)
    if mode is not None and mode != sc.mode:  # the limits again, for the mode run in
        from facelab.config.limits import MODES
        from facelab.config.resources import check_resources
        from facelab.config.validate import ErrorContext
        from facelab.errors import ConfigError

        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
        check_resources(ErrorContext(sc.source), sc, mode)
    if backend is not None:  # refused before the run directory is made
        from facelab.vision.backend import resolve_backend

        resolve_backend(backend, device)
    from facelab.config.resources import check_disk_space

    check_disk_space(sc, out, mode)  # the run directory must fit where it goes
    with TruthStore(out, create=True) as truth:
        summary = run_scenario(
            sc, out, truth=truth, mode=mode, device=device, backend=backend,
            on_progress=on_progress, on_step=on_step, engine=remote, transfer=transfer,
            after_day=lambda day: retention.purge_after_day(out, day, on_step=on_step),
        )  # fmt: skip
    retention.purge_after_day(out, on_step=on_step)
    return summary


def world(scenario, *, seed: int | None = None, days: int | None = None):
    """The scenario's simulated city (``facelab world``): a :class:`facelab.world.world.World`;
    ``.summary()`` is what the command prints, :func:`people` the person ids worth a photo."""
    from facelab.world.world import build_world

    return build_world(load_scenario(scenario, seed=seed, days=days))


def people(scenario, n: int = 5) -> dict:
    """Person ids worth a photo (``facelab world --people``): the watchlist and the ``n``
    people who pass face-recognition cameras most. ``scenario``: as :func:`world`, or a World."""
    from facelab.run.photo import people_to_try
    from facelab.world.world import World

    return people_to_try(scenario if isinstance(scenario, World) else world(scenario), n)


def case(name: str, out: str | Path = "runs/cases", *, device: str = "cpu",
         system: str | None = None):  # fmt: skip
    """Re-run a published case (``facelab case NAME``) under ``out/NAME``; a CaseResult.

    With ``system`` (``--system PROFILE``) nothing runs: the case's published points beside the
    profile's and sface-synthetic's figures, a :class:`facelab.profiles.compare.SystemComparison`.
    """
    if system is not None:
        from facelab.profiles.compare import compare_case

        return compare_case(name, system)
    from facelab.lab.cases import run_case

    return run_case(name, Path(out) / name,
                    run=lambda sc, path: run(sc, path, device=device))  # fmt: skip


def profiles() -> list:
    """The shipped system profiles (``facelab profiles``), loaded, sorted by name."""
    from facelab.profiles.profile import get_profile, shipped

    return [get_profile(name) for name in shipped()]


def profile_fit(source: str | Path):
    """Fit a profile (``facelab profile fit SOURCE``): ``(profile, FitResult)``."""
    from facelab.profiles.fit import fit_profile
    from facelab.profiles.profile import get_profile

    profile = get_profile(source)
    return profile, fit_profile(profile)


def profile_predict(name: str | Path, galleries, *, threshold: float | None = None,
                    fpir: float | None = None, condition: str | None = None) -> dict:  # fmt: skip
    """The model's FPIR / FNIR at gallery sizes (``facelab profile predict NAME``)."""
    from facelab.profiles.compare import prediction_table
    from facelab.profiles.profile import get_profile

    return prediction_table(
        get_profile(name), galleries, threshold=threshold, fpir=fpir, condition=condition
    )


def profile_city(name: str, scenario, *, percent: float | None = None,
                 fpir: float | None = None, groups=None, group_map: str | None = None,
                 **kw) -> dict:  # fmt: skip
    """A scenario's daily false alerts, share false and review hours under a profile's model,
    with 95 % intervals (``facelab profile city NAME --scenario S``); ``kw``: condition,
    seconds_per_candidate, events_per_minute, draws, seed of
    :func:`facelab.profiles.city.city_figures`. Per-group figures with the scenario's reviewer
    (``"by_group"``) for ``groups`` (``{band: share}`` or ``"light=0.5,dark=0.5"``), or the
    scenario's ``[population] groups`` when the profile has groups."""
    from facelab.profiles.city import city_counts, city_figures
    from facelab.profiles.city_groups import parse_shares
    from facelab.profiles.profile import get_profile

    profile = get_profile(name)
    sc = load_scenario(scenario)
    if isinstance(groups, str):
        groups = parse_shares(groups)
    if groups is None and profile.group_maps and sc.population.groups:
        groups = dict(sc.population.groups)
    counts = city_counts(sc)
    return city_figures(profile, counts, percent=percent, fpir=fpir, shares=groups,
                        review=sc.review, group_map=group_map, **kw)  # fmt: skip


def calibrate(out: str | Path | None = None, *, device: str = "cpu", **kw):
    """Fit the embedding twin (``facelab calibrate``) and save it (default: the twin
    embedding mode loads); returns ``(model, samples)``. ``kw``: identities, sightings,
    photos, seed, qualities of :func:`facelab.twin.calibrate.calibrate`."""
    from facelab.twin.calibrate import calibrate as fit
    from facelab.twin.model import default_path

    model, samples = fit(device=device, **kw)
    model.save(Path(out) if out is not None else default_path())
    return model, samples


def demo_backend(out: str | Path) -> str:
    """The backend the demo runs with: ``auto`` (each model on the fastest backend here) for a
    new run, and the one a run already in ``out`` was made with when it is resumed."""
    meta = Path(out) / "run.json"
    if meta.is_file():
        import json

        try:
            return str(json.loads(meta.read_text()).get("backend") or "onnxruntime")
        except (ValueError, OSError):
            pass  # a damaged run is refused, with its message, by the run itself
    return "auto"


def demo(out: str | Path = "runs/demo", *, device: str = "cpu") -> Path:
    """The classroom demo (``facelab demo``): run (or resume) it, on :func:`demo_backend`, and
    write its report."""
    run(DEMO_SCENARIO, out, device=device, backend=demo_backend(out))
    return open_run(out).report(thresholds=DEMO_THRESHOLDS)


def frames(scenario, camera: str, day: int, out: str | Path, *, limit: int | None = None,
           clip: bool = False, seed: int | None = None):  # fmt: skip
    """Render one camera-day's frames with their ground truth (``facelab frames``)."""
    from facelab.lab.render import render_frames

    return render_frames(load_scenario(scenario, seed=seed), camera, day, out, limit=limit,
                         clip=clip)  # fmt: skip


def models_fetch() -> dict:
    """Download and convert the models (``facelab models fetch``); status per model."""
    from facelab.vision import models

    return models.fetch()


def models_list() -> list[dict]:
    """The models with status, licence, source and SHA-256 (``facelab models list``)."""
    from facelab.vision import models

    return models.listing()


def synth_faces(n: int = 64, *, seed: int = 0, sightings: int | None = None,
                identity: int = 0, sheet: str | Path | None = None,
                out: str | Path | None = None, cols: int = 8, cell: int | None = None):  # fmt: skip
    """Draw synthetic faces into a signed contact sheet (``facelab synth faces``)."""
    from facelab.lab.render import synth_faces as draw

    return draw(n, seed=seed, sightings=sightings, identity=identity, sheet=sheet, out=out,
                cols=cols, cell=cell)  # fmt: skip


def synth_stats(identities: int = 100, sightings: int = 4, seed: int = 0):
    """SFace genuine-vs-impostor scores on facelab's faces (``facelab synth stats``)."""
    from facelab.lab import calibration

    return calibration.genuine_impostor_scores(identities, sightings, seed)


def synth_groups(identities: int = 1000, *, seed: int = 0, sightings: int = 0,
                 sigma: float | None = None):  # fmt: skip
    """How the generator's faces fall into the measured groups (``facelab synth groups``); a
    :class:`facelab.world.groups.Distribution`."""
    from facelab.world import groups, synth

    sig = synth.DEFAULT_LATENT_SIGMA if sigma is None else sigma
    return groups.distribution(identities, seed, sightings, sig)


def open_run(path: str | Path, *, actor: str | None = None, device: str = "cpu") -> Run:
    """Open an existing run directory (checked now; nothing is written)."""
    return Run(path, actor=actor, device=device)


class Run:
    """A run directory, with the CLI's commands as methods.

    Parameters
    ----------
    path : str or Path
    actor : str, optional
        Who acts, for the audit log; default :func:`facelab.governance.audit.default_actor`.
    device : str
        Where the embedder runs (``cpu``, ``cuda``, ``auto``).

    Raises
    ------
    RunError
        Missing, foreign, older-format or incomplete run directory.
    """

    def __init__(self, path: str | Path, *, actor: str | None = None, device: str = "cpu"):
        from facelab.search.archive import ShardCache

        with RunStore(path, readonly=True) as s:  # checks the run directory; writes nothing
            self.shards = ShardCache(s.archive_options()["cache_shards"])
        self.path = Path(path)
        self.actor = actor or audit.default_actor()
        self.device = device
        self.models = FaceModels(device)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @contextmanager
    def store(self, *, readonly: bool = False):
        """``with run.store() as s:`` — the open :class:`~facelab.run.store.RunStore`
        (``readonly``: opened so that nothing in the run can change)."""
        s = RunStore(self.path, shards=self.shards, readonly=readonly)
        try:
            yield s
        finally:
            s.close()

    # ---- watchlist

    def enroll(self, photo, *, label: str, reason: str | None = None, case: str | None = None,
               largest: bool = False):  # fmt: skip
        """Enrol a pre-loaded frame (``facelab enroll``); returns the WatchlistEntry."""
        from facelab.run import watchlist

        with self.store() as s, TruthStore(self.path).open() as truth:  # missing: damaged run
            return watchlist.enrol_photo(
                s, photo, label=label, case=case, reason=reason, actor=self.actor,
                models=self.models, truth=truth, largest=largest,
            )  # fmt: skip

    def watchlist(self, include_removed: bool = False):
        """Watchlist entries (``facelab watchlist``)."""
        from facelab.run import watchlist

        with self.store(readonly=True) as s:
            return watchlist.entries(s, include_removed=include_removed)

    def remove(self, label: str, *, reason: str | None = None):
        """Remove an entry (``facelab watchlist --remove``); returns the removed entry."""
        from facelab.run import watchlist

        with self.store() as s:
            return watchlist.remove(s, label, reason=reason, actor=self.actor)

    # ---- retrospective search

    def search(self, photo, *, reason: str | None = None, case: str | None = None,
               min_percent: float | None = None, top: int | None = None, cameras=None,
               date_from=None, date_to=None, mapping: str | None = None, largest: bool = False,
               sheet: str | Path | None = None, allow_missing: bool = False,
               engine: str = "local", address: str | None = None):  # fmt: skip
        """Where was this person seen? (``facelab search``); returns a SearchResult.

        With ``sheet``, also draws the probe beside its hits into that PNG. A day shard of
        the window that is missing or unreadable is a ``RunError`` unless ``allow_missing``
        (then the result's ``missing_days`` names the days not searched). ``engine``
        ``"ray"`` searches day shards held by Ray actors on the cluster at ``address``
        (:mod:`facelab.run.ray_archive`; kept by this Run between searches), with the local
        search's result.
        """
        from facelab.run import retrospective as search
        from facelab.run.ray_engine import check_engine

        _check_options(min_percent=min_percent, top=top)
        remote = check_engine(engine, address) == "ray"
        with self.store(readonly=True) as s:
            result = search.search_photo(
                s, photo, min_percent=min_percent, top=top, cameras=cameras,
                date_from=date_from, date_to=date_to, reason=reason, case=case,
                actor=self.actor, mapping=mapping, models=self.models, largest=largest,
                allow_missing=allow_missing,
                archive=self.ray_archive(s, address) if remote else None,
            )  # fmt: skip
            if sheet is not None:
                search.draw_sheet(s, result, photo, sheet)
            return result

    def search_entry(self, label: str, *, reason: str | None = None,
                     min_percent: float | None = None, top: int | None = None,
                     engine: str = "local", address: str | None = None):  # fmt: skip
        """The retrospective search of an active watchlist entry's enrolled photo over the
        archive window (``facelab enroll --search``): the sightings it would have alerted on
        (at the run's alert threshold by default) had it been on the watchlist when they were
        made. A :class:`~facelab.run.retrospective.SearchResult`, audited as a search under
        the entry's case; ``engine`` and ``address`` as in :meth:`search`, with the same hits.
        """
        from facelab.errors import DataError

        entry = next((e for e in self.watchlist() if label in (e.label, str(e.id))), None)
        if entry is None or entry.photo is None:
            raise DataError(f"no active watchlist entry {label!r} with an enrolled photo")
        return self.search(
            self.path / entry.photo, reason=reason or entry.reason, case=entry.case_id,
            min_percent=min_percent, top=top, engine=engine, address=address,
        )  # fmt: skip

    def ray_archive(self, store, address: str | None = None):
        """This run's archive on the Ray cluster at ``address``
        (:class:`~facelab.run.ray_archive.RayShardArchive`), made on first use and kept."""
        held = getattr(self, "_ray_archive", None)
        if held is None or held[0] != address:
            from facelab.run.ray_archive import RayShardArchive

            if held is not None:
                held[1].release()  # another cluster: this one's holders go
            arch = RayShardArchive(store.archive_dir, store.archive_options(), address=address)
            self._ray_archive = held = (address, arch)
        return held[1]

    def sheet(self, result, photo, path: str | Path) -> Path:
        """Draw a search's probe beside its hits (``facelab search --sheet``)."""
        from facelab.run import retrospective as search

        with self.store(readonly=True) as s:
            return search.draw_sheet(s, result, photo, path)

    # ---- review queue

    def alerts(self, min_percent: float | None = None, status: str | None = None,
               camera: str | None = None, limit: int | None = None):  # fmt: skip
        """The manual review queue (``facelab alerts``); a list of Alert."""
        from facelab.run import review

        _check_options(min_percent=min_percent, limit=limit)
        with self.store(readonly=True) as s:
            return review.list_alerts(s, min_percent, status, camera, limit)

    def review(self, alert_id: int | str, decision: str, *, reason: str | None = None,
               case: str | None = None, note: str | None = None):  # fmt: skip
        """Confirm or reject an alert (``facelab review``); returns the updated Alert.

        ``alert_id`` is the stored id or its short form (``A-3-0042``,
        :func:`facelab.run.schema.display_alert_id`)."""
        from facelab.run import review
        from facelab.run.schema import parse_alert_id

        alert_id = parse_alert_id(alert_id)
        with self.store() as s:
            return review.review_alert(
                s, alert_id, decision, actor=self.actor, reason=reason, case=case, note=note
            )

    # ---- photos of the run's people

    def photo(self, person: str | int, out: str | Path, *, take: int = 1):
        """A fresh signed photo of a person of the run's world (``facelab photo``); returns
        a :class:`facelab.run.photo.PersonPhoto`."""
        from facelab.run.photo import write_person_photo

        with self.store(readonly=True) as s:
            sc = s.scenario()
        return write_person_photo(sc, person, out, take=take, device=self.device)

    # ---- metrics and report

    def sweep(self, thresholds: str = "50:80:5", mapping: str = "linear", rank: int = 1,
              seconds_per_candidate: float | None = None, camera_kind: str | None = None,
              watchlist: str = "as-searched"):  # fmt: skip
        """Error rates, false alerts and review load per threshold (``facelab sweep``); a
        :class:`facelab.lab.sweep.SweepTable`. ``watchlist="current"`` re-scores against
        today's watchlist (``--watchlist current``; :mod:`facelab.lab.watchlists`)."""
        from facelab.lab.metrics import SECONDS_PER_CANDIDATE
        from facelab.lab.passes import load_passes
        from facelab.lab.scores import load_scores
        from facelab.lab.sweep import run_mapping, sweep_run

        spc = SECONDS_PER_CANDIDATE if seconds_per_candidate is None else seconds_per_candidate
        _check_options(rank=rank, seconds_per_candidate=spc)
        with self.store(readonly=True) as s:
            scores = load_scores(s, watchlist)
            passes = load_passes(s, scores)
        kw = {"camera_kind": camera_kind} if camera_kind is not None else {}
        return sweep_run(scores, thresholds, run_mapping(scores, mapping), rank=rank,
                         seconds_per_candidate=spc, passes=passes, **kw)  # fmt: skip

    def facts(self):
        """What the run holds, as the header of ``facelab sweep`` says it: a
        :class:`facelab.lab.report.facts.RunFacts` (days, days still held after purges, what
        was purged, searches, FR cameras, camera-days, watchlist size)."""
        from facelab.lab.report.facts import run_facts
        from facelab.lab.scores import load_scores

        with self.store(readonly=True) as s:
            return run_facts(s, load_scores(s))

    def sweep_groups(self, thresholds: str = "50:80:5", mapping: str = "linear",
                     watchlist: str = "as-searched"):  # fmt: skip
        """Rates per measured group and the differential (``facelab sweep --by group``); a
        :class:`facelab.lab.groups.GroupSweep`. ``watchlist`` as in :meth:`sweep`."""
        from facelab.lab.groups import load_group_scores, sweep_groups

        with self.store(readonly=True) as s:
            return sweep_groups(load_group_scores(s, watchlist), thresholds, mapping)

    def review_outcomes(self, thresholds: str = "50:80:5", mapping: str = "linear", spec=None,
                        watchlist: str = "as-searched"):  # fmt: skip
        """What the scenario's ``[review]`` model (or ``spec``) makes of the alerts
        (``facelab sweep --review``): a list of :class:`facelab.lab.reviewer.ReviewOutcome`.
        ``watchlist`` as in :meth:`sweep`."""
        from facelab.lab.reviewer import review_run

        with self.store(readonly=True) as s:
            return review_run(s, thresholds, mapping, spec, watchlist)

    def report(self, out: str | Path | None = None, **kw) -> Path:
        """Write the run's HTML report (``facelab report``); ``kw``: thresholds, mapping, rank,
        seconds_per_candidate, force of :func:`facelab.lab.report.html.write_report`."""
        from facelab.lab.report.html import write_report

        return write_report(self.path, out, **kw)

    # ---- retention

    def purge(self, *, now=None, retention_days: int | None = None, reason: str | None = None,
              proof=None, engine: str = "local", address: str | None = None):  # fmt: skip
        """Delete what is past retention (``facelab purge``); a PurgeReport. ``proof``: a
        :class:`facelab.governance.retention.DeletionProof` to collect fingerprints into.
        ``engine`` ``"ray"`` (``--engine ray``) then deletes the purged and trimmed days'
        copies held on the Ray cluster at ``address`` at once, by this Run's archive and on
        every node (:meth:`~facelab.run.ray_archive.RayShardArchive.sync`)."""
        from facelab.governance import retention
        from facelab.run.ray_engine import check_engine

        _check_options(retention_days=retention_days)
        held = None
        if check_engine(engine, address) == "ray":  # an unreachable cluster: nothing deleted
            with self.store(readonly=True) as s:
                held = self.ray_archive(s, address)
        report = retention.purge(
            self.path, now=now, retention_days=retention_days, actor=self.actor,
            reason=reason or "retention policy", proof=proof, always_record=True,
        )  # fmt: skip
        if held is not None:
            held.sync()
        return report

    def retention_verify(self, proof=None, *, engine: str = "local",
                         address: str | None = None):  # fmt: skip
        """Check that nothing past retention is left (``facelab retention verify``); a
        VerifyReport (``.ok``). ``engine`` ``"ray"`` also scans the copies of day shards held
        on the Ray cluster's nodes (a finding names node and day)."""
        from facelab.governance import retention
        from facelab.run.ray_engine import check_engine

        held = None
        if check_engine(engine, address) == "ray":
            with self.store(readonly=True) as s:
                held = self.ray_archive(s, address)
        return retention.verify(self.path, proof, held=held)

    def retention_window(self):
        """The archive window a search looks at (``facelab retention window``), or None."""
        from facelab.run.window import archive_window

        with self.store(readonly=True) as s:
            return archive_window(s)

    def retention_cases(self) -> list[tuple[str, str, int]]:
        """Cases with confirmed alerts: ``(case, status, n)`` (``facelab retention cases``)."""
        from facelab.governance import retention

        with self.store(readonly=True) as s:
            return retention.cases(s)

    def retention_close_case(self, case_id: str, *, reason: str | None = None) -> int:
        """Close a case (``facelab retention close-case``); the number of alerts released."""
        from facelab.governance import retention

        with self.store() as s:
            return retention.close_case(s, case_id, actor=self.actor, reason=reason)

    # ---- audit

    def audit(self):
        """The audit log's records (``facelab audit RUN``)."""
        return audit.AuditLog(self.path / AUDIT_LOG).records()

    def audit_verify(self):
        """Check the audit log's hash chain (``facelab audit verify RUN``); a report (``.ok``)."""
        return audit.AuditLog(self.path / AUDIT_LOG).verify()

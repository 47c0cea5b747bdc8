"""Scenario configuration: a TOML scenario in, validated frozen dataclasses out.

- :mod:`~facelab.config.scenario`: :class:`~facelab.config.scenario.Scenario`,
  :func:`~facelab.config.scenario.load_scenario`, :func:`~facelab.config.scenario.parse_scenario`
  and the schema.
- :mod:`~facelab.config.sections`: one frozen dataclass per TOML section.
- :mod:`~facelab.config.quality`: camera quality profiles and the built-in ones.
- :mod:`~facelab.config.tables`: one reader per TOML table.
- :mod:`~facelab.config.validate`: field checks and the one-line error messages.
- :mod:`~facelab.config.defaults`: values for keys a scenario leaves out.
- :mod:`~facelab.config.limits`: allowed choices and numeric bounds.
- :mod:`~facelab.config.resources`: what a scenario will need (memory, disk, cameras, days),
  checked against its ``[limits]`` before anything is allocated.
"""

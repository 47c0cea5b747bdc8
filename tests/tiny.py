"""A tiny image-mode city (8 people, two 160×128 cameras) for tests that need real runs fast."""


def tiny_scenario(name: str, days: int, extra: str = "") -> str:
    """The scenario's TOML text, named ``name``, ``days`` long, with ``extra`` tables appended."""
    return f'name = "{name}"\n' + TINY.format(days=days) + extra


TINY = """seed = 11
start = 2026-03-02
days = {days}
mode = "image"
[population]
size = 8
[movement]
passes_per_day = [1, 1]
active_hours = [8, 18]
presence = 0.8
[quality.tiny]
base = "good"
face_px = [56, 72]
[[cameras]]
id = "gate"
kind = "metro_gate"
station = "A"
fr = true
resolution = [160, 128]
quality = "tiny"
[[cameras]]
id = "street"
kind = "street"
station = "B"
fr = false
resolution = [160, 128]
quality = "tiny"
[watchlist]
size = 3
in_city = 2
"""

"""A shipped profile's text with one edit, and the one-line refusal it must get."""

import pytest

from facelab.errors import ConfigError
from facelab.profiles.profile import load_profile


def assert_edit_refused(tmp_path, text: str, old: str, new: str, key: str) -> None:
    """Loading ``text`` with ``old`` replaced by ``new`` is a ConfigError of one line that
    starts with the file's name and names ``key``."""
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    msg = str(exc.value)
    assert msg.startswith("bad.toml: ") and key in msg and "\n" not in msg

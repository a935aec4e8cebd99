"""`.env.example` lists every environment variable the settings and the served flows read."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _variables_read_by(path: Path) -> set[str]:
    source = path.read_text()
    return set(re.findall(r'env(?:\.[a-z]+)?\("([A-Z_]+)"', source)) | set(
        re.findall(r'os\.environ\.get\("([A-Z_]+)"', source)
    )


def test_env_example_lists_every_variable_the_code_reads():
    listed = set(re.findall(r"^# ([A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    read = _variables_read_by(REPO_ROOT / "controlplane" / "settings.py")
    for flow_module in (REPO_ROOT / "flows").rglob("*.py"):
        read |= _variables_read_by(flow_module)
    assert read, "the pattern no longer finds the variables in settings.py"
    assert read - listed == set(), f"missing from .env.example: {sorted(read - listed)}"

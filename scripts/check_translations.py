"""CI gate: the committed zh-Hans catalogue matches the source strings and is compiled.

1. Regenerates the catalogue with makemessages and compares its msgids with the committed
   django.po (a string added to or removed from the source without `make messages` fails).
2. Every entry is translated and none is fuzzy.
3. The committed django.mo holds exactly the committed django.po's translations.
Needs GNU gettext (msgfmt, xgettext), which .ci/run installs; set-up and tests do not.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LC = ROOT / "locale/zh_Hans/LC_MESSAGES"
PO, MO = LC / "django.po", LC / "django.mo"
MAKEMESSAGES = [
    sys.executable,
    "manage.py",
    "makemessages",
    "-l",
    "zh_Hans",
    "--no-location",
    "--no-wrap",
    "--no-obsolete",
    "--ignore=.venv",
    "--ignore=var",
    "--ignore=tests",
]


def msgids(po_text: str) -> set[str]:
    return set(re.findall(r'^msgid "(.+)"$', po_text, flags=re.MULTILINE))


def main() -> int:
    problems: list[str] = []
    committed = PO.read_text(encoding="utf-8")
    backup = Path(tempfile.mkdtemp()) / "django.po"
    shutil.copy(PO, backup)
    try:
        subprocess.run(MAKEMESSAGES, cwd=ROOT, check=True, capture_output=True)
        regenerated = PO.read_text(encoding="utf-8")
    finally:
        shutil.copy(backup, PO)
    for msgid in sorted(msgids(regenerated) - msgids(committed)):
        problems.append(f"new source string missing from django.po: {msgid!r}")
    for msgid in sorted(msgids(committed) - msgids(regenerated)):
        problems.append(f"django.po holds a string no longer in the source: {msgid!r}")

    stats = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
    )
    if stats.returncode != 0 or "untranslated" in stats.stderr or "fuzzy" in stats.stderr:
        problems.append(f"django.po is not fully translated: {stats.stderr.strip()}")

    fresh_mo = backup.with_suffix(".mo")
    subprocess.run(["msgfmt", "-o", str(fresh_mo), str(PO)], check=True)
    with fresh_mo.open("rb") as fresh, MO.open("rb") as stored:
        if gettext.GNUTranslations(fresh)._catalog != gettext.GNUTranslations(stored)._catalog:  # type: ignore[attr-defined]
            problems.append("django.mo is out of date: run `make messages` and commit it.")

    for problem in problems:
        print(f"translations: {problem}")
    if not problems:
        print(f"translations: zh-Hans catalogue up to date ({len(msgids(committed))} strings).")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

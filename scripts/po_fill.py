"""Fill empty msgstr entries of the zh-Hans catalogue from locale/zh_Hans/glossary.tsv.

Usage: python scripts/po_fill.py  (after `make messages`). Prints msgids still untranslated.
The glossary is the translators' source of truth: one "English<TAB>中文" pair a line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"
GLOSSARY = ROOT / "locale/zh_Hans/glossary.tsv"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def main() -> int:
    pairs = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            english, chinese = line.split("\t")
            pairs[english] = chinese
    text = PO.read_text(encoding="utf-8")
    text = text.replace('#, fuzzy\nmsgid ""', 'msgid ""', 1)
    text = text.replace('"Language: \\n"', '"Language: zh_Hans\\n"', 1)
    missing = []

    def fill(match: re.Match[str]) -> str:
        msgid = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
        if msgid in pairs:
            return f'msgid "{match.group(1)}"\nmsgstr "{_escape(pairs[msgid])}"'
        missing.append(msgid)
        return match.group(0)

    text = re.sub(r'^msgid "(.+)"\nmsgstr ""$', fill, text, flags=re.MULTILINE)
    PO.write_text(text, encoding="utf-8")
    for msgid in missing:
        print(f"untranslated: {msgid}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

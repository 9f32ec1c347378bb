"""Masks for display where the full value is not needed. Pure functions of their input.

- Chinese names keep the surname (compound surnames included): 张三 -> 张*, 欧阳娜娜 -> 欧阳**.
- Other names keep each word's first letter: Alice Smith -> A**** S****.
- Phones keep 3 + 4 digits: 13812345678 -> 138****5678 (after normalisation).
- Addresses keep the district/street prefix and hide numbers, buildings and rooms.
Masks preserve the visible shape up to ``MAX_MASK`` hidden characters per part, so a very
long value does not produce a very long mask.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError

from privacy.phone import normalise_phone

MASK = "*"
MAX_MASK = 8
# The widths of the columns that store masks.
NAME_LIMIT, PHONE_LIMIT, ADDRESS_LIMIT, DISTRICT_LIMIT = 40, 24, 120, 60

# The compound surnames in common use (复姓).
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "钟离",
        "闻人",
        "澹台",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "万俟",
        "申屠",
        "太史",
        "赫连",
        "拓跋",
        "公羊",
        "濮阳",
        "淳于",
        "单于",
        "仲孙",
        "宗政",
        "司空",
        "亓官",
        "司寇",
        "子车",
        "颛孙",
        "巫马",
        "公西",
        "漆雕",
        "乐正",
        "壤驷",
        "公良",
        "谷梁",
        "宰父",
        "羊舌",
        "微生",
        "梁丘",
        "左丘",
        "东门",
        "第五",
        "呼衍",
        "贺兰",
        "叱干",
        "宇文",
        "尉迟",
        "完颜",
        "爱新觉罗",
    ]
)


def graphemes(text: str) -> list[str]:
    """Split into user-perceived characters (enough for names: combining marks, emoji
    modifiers, ZWJ sequences, flags), so a mask never cuts a character in half."""
    clusters: list[str] = []
    joiner = False
    for char in text:
        code = ord(char)
        attach = clusters and (
            joiner
            or unicodedata.combining(char)
            or unicodedata.category(char) in {"Mn", "Me", "Mc"}
            or char == "\u200d"
            or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF
            or 0xE0020 <= code <= 0xE007F
            or (
                0x1F1E6 <= code <= 0x1F1FF
                and len(clusters[-1]) == 1
                and 0x1F1E6 <= ord(clusters[-1]) <= 0x1F1FF
            )
        )
        if attach:
            clusters[-1] += char
        else:
            clusters.append(char)
        joiner = char == "\u200d"
    return clusters


def _stars(count: int) -> str:
    return MASK * min(max(count, 1), MAX_MASK)


def _cap(text: str, limit: int) -> str:
    """Bound a mask's length (its column's width), cutting at a character boundary."""
    clusters = graphemes(text)
    if sum(len(c) for c in clusters) <= limit:
        return text
    kept, size = [], 0
    for cluster in clusters:
        cluster = cluster[:8]  # a pile of combining marks is not more of a character
        if size + len(cluster) > limit - 1:
            break
        kept.append(cluster)
        size += len(cluster)
    return "".join(kept) + "…"


def _is_han(cluster: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK UNIFIED") for c in cluster)


def mask_name(name: str) -> str:
    text = " ".join((name or "").split())
    if not text:
        return ""
    chars = graphemes(text)
    if _is_han(chars[0]):
        surname = 2 if "".join(chars[:2]) in COMPOUND_SURNAMES and len(chars) > 2 else 1
        if len(chars) == 1:
            return MASK
        return _cap(
            "".join(c[:8] for c in chars[:surname]) + _stars(len(chars) - surname), NAME_LIMIT
        )
    words = []
    for word in text.split(" "):
        parts = graphemes(word)
        words.append(parts[0][:8] + (_stars(len(parts) - 1) if len(parts) > 1 else ""))
    return _cap(" ".join(words), NAME_LIMIT)


def mask_phone(phone: str) -> str:
    try:
        digits = normalise_phone(phone)
    except ValidationError:
        digits = re.sub(r"\D", "", phone or "")
    prefix = "+" if digits.startswith("+") else ""
    digits = digits.lstrip("+")
    if len(digits) >= 11:
        return _cap(prefix + digits[:3] + MASK * (len(digits) - 7) + digits[-4:], PHONE_LIMIT)
    if len(digits) >= 7:
        return _cap(prefix + digits[:2] + MASK * (len(digits) - 4) + digits[-2:], PHONE_LIMIT)
    return MASK * min(len(digits), PHONE_LIMIT)


# Where a Chinese address stops being public geography: after the street (路/街/道/巷/弄…),
# else after the district-level unit (区/县/镇/乡), else before the first number.
_STREET = re.compile(r"^.*?(?:大道|大街|胡同|路|街|道|巷|弄|里)")
_DISTRICT = re.compile(r"^.*?(?:新区|区|县|镇|乡|旗)")
_HAS_DIGIT = re.compile(r"\d")
_LATIN_UNIT_WORDS = {
    "apt",
    "apartment",
    "flat",
    "unit",
    "room",
    "rm",
    "suite",
    "floor",
    "no",
    "no.",
}


def _public_prefix(text: str) -> str:
    """The street- or district-level beginning of a Chinese address, without any number."""
    for pattern in (_STREET, _DISTRICT):
        match = pattern.match(text)
        if match and len(match.group(0)) < len(text):
            prefix = match.group(0)
            break
    else:
        prefix = ""
    digit = _HAS_DIGIT.search(prefix or text)
    if digit:
        prefix = (prefix or text)[: digit.start()]
    return prefix


def _latin_parts(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def mask_address(address: str) -> str:
    """Chinese addresses keep the street (or district) and hide numbers, buildings, rooms.
    Other addresses keep only their last comma-separated part (town or region) when it has
    no number: house names and streets are not public geography."""
    text = " ".join(unicodedata.normalize("NFKC", address or "").split())
    if not text:
        return ""
    if any(_is_han(c) for c in text[:12]):
        prefix = _public_prefix(text) or "".join(graphemes(text)[:2])
        return _cap(prefix, ADDRESS_LIMIT - 4) + _stars(4)
    parts = _latin_parts(text)
    if len(parts) > 1 and not _HAS_DIGIT.search(parts[-1]):
        return _stars(4) + ", " + _cap(parts[-1], ADDRESS_LIMIT - 6)
    return _stars(4)


def district_of(address: str) -> str:
    """The district-level part of an address, for package labels: 上海市浦东新区张江路1号 ->
    上海市浦东新区; "221B Baker Street, London" -> "London". Never a street or number."""
    text = " ".join(unicodedata.normalize("NFKC", address or "").split())
    if not text:
        return ""
    if any(_is_han(c) for c in text[:12]):
        match = _DISTRICT.match(text)
        if match and not _HAS_DIGIT.search(match.group(0)):
            return _cap(match.group(0), DISTRICT_LIMIT)
        return _stars(4)
    parts = _latin_parts(text)
    if len(parts) > 1 and not _HAS_DIGIT.search(parts[-1]):
        return _cap(parts[-1], DISTRICT_LIMIT)
    return _stars(4)

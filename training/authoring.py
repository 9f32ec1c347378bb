"""Course authoring in the back office (issue 19, point 1): the forms a tenant administrator
fills to create a course and to publish its next version — titles, lessons (with their
pictures), questions and options in Chinese and English — without writing JSON.

The version form is a *draft*: every button posts the whole draft, and "add a lesson",
"remove this option"... re-render it with one row more or less (no JavaScript needed). The
draft lives only in the posted form; only "Publish" writes, through
``training.courses.publish_course_version`` (which checks again, and refuses when another
version was published since the form was opened: ``based_on``). No HTTP here: the admin
views in training.course_admin call these."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from tenants.models import Role
from training.models import LESSON_IMAGE_ALT_MAX_LENGTH, CourseVersion, LessonImage

MAX_LESSONS = 30
MAX_QUESTIONS = 40
MAX_OPTIONS = 8
TITLE_MAX = 200
BODY_MAX = 20_000
TEXT_MAX = 500

_LANGUAGES = (("zh", gettext_lazy("Chinese")), ("en", gettext_lazy("English")))


# --- Creating a course ----------------------------------------------------------------


class CourseCreateForm(forms.Form):
    code = forms.SlugField(
        label=gettext_lazy("Code"),
        max_length=40,
        widget=UnfoldAdminTextInputWidget,
        help_text=gettext_lazy("Letters, digits and hyphens, e.g. dispatch-basics."),
    )
    roles = forms.MultipleChoiceField(
        label=gettext_lazy("Roles that must take it"),
        choices=Role.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    induction = forms.BooleanField(
        label=gettext_lazy("Induction course"),
        required=False,
        widget=UnfoldBooleanWidget,
        help_text=gettext_lazy("Passing it lets staff sign the confidentiality pledge."),
    )
    renew_months = forms.IntegerField(
        label=gettext_lazy("Renew every (months)"),
        required=False,
        min_value=1,
        max_value=120,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=gettext_lazy("Empty: taken once, and again only for a new version."),
    )
    renew_on_new_version = forms.BooleanField(
        label=gettext_lazy("Renew on a new version"),
        required=False,
        initial=True,
        widget=UnfoldBooleanWidget,
    )


# --- The draft of a version -----------------------------------------------------------


def _new_id(taken: set[str]) -> str:
    while True:
        candidate = secrets.token_hex(3)
        if candidate not in taken:
            return candidate


def blank_lesson() -> dict[str, Any]:
    return {"title_zh": "", "title_en": "", "body_zh": "", "body_en": "", "images": []}


def blank_option(taken: set[str]) -> dict[str, Any]:
    return {"id": _new_id(taken), "text_zh": "", "text_en": "", "correct": False}


def blank_question(taken: set[str]) -> dict[str, Any]:
    qid = _new_id(taken)
    first = blank_option(set())
    return {
        "id": qid,
        "multiple": False,
        "text_zh": "",
        "text_en": "",
        "options": [first, blank_option({first["id"]})],
    }


def draft_from_version(version: CourseVersion | None) -> dict[str, Any]:
    """The form's starting point: the current version's content, or an empty course."""
    if version is None:
        return {
            "title_zh": "",
            "title_en": "",
            "pass_mark": "80",
            "based_on": 0,
            "lessons": [blank_lesson()],
            "questions": [blank_question(set())],
        }
    content = version.content
    return {
        "title_zh": version.title_zh,
        "title_en": version.title_en,
        "pass_mark": str(version.pass_mark),
        "based_on": version.version,
        "lessons": [
            {
                **{
                    k: str(lesson.get(k, ""))
                    for k in ("title_zh", "title_en", "body_zh", "body_en")
                },
                "images": [i for i in lesson.get("images", []) if isinstance(i, int)],
            }
            for lesson in content.get("lessons", [])
        ],
        "questions": [
            {
                "id": str(q["id"]),
                "multiple": bool(q.get("multiple")),
                "text_zh": str(q.get("text_zh", "")),
                "text_en": str(q.get("text_en", "")),
                "options": [
                    {
                        "id": str(o["id"]),
                        "text_zh": str(o.get("text_zh", "")),
                        "text_en": str(o.get("text_en", "")),
                        "correct": o.get("correct") is True,
                    }
                    for o in q.get("options", [])
                ],
            }
            for q in content.get("questions", [])
        ],
    }


def _count(data: Mapping[str, Any], key: str, limit: int) -> int:
    try:
        return max(0, min(int(str(data.get(key, "0"))), limit))
    except ValueError:
        return 0


def _ints(values: list[str]) -> list[int]:
    out: list[int] = []
    for value in values:
        if value.isascii() and value.isdigit() and int(value) not in out:
            out.append(int(value))
    return out


def draft_from_post(data: MultiValueDict[str, Any]) -> dict[str, Any]:
    """The draft a posted version form holds (as typed: checked at publishing)."""

    def text(key: str) -> str:
        return str(data.get(key, "")).replace("\x00", "")

    try:
        based_on = int(str(data.get("based_on", "")))
    except ValueError:
        based_on = -1
    lessons = [
        {
            **{k: text(f"l-{i}-{k}") for k in ("title_zh", "title_en", "body_zh", "body_en")},
            "images": _ints(data.getlist(f"l-{i}-images")),
        }
        for i in range(_count(data, "lessons", MAX_LESSONS))
    ]
    questions = []
    taken: set[str] = set()
    for j in range(_count(data, "questions", MAX_QUESTIONS)):
        qid = text(f"q-{j}-id")[:16] or _new_id(taken)
        if qid in taken:
            qid = _new_id(taken)
        taken.add(qid)
        options = []
        option_ids: set[str] = set()
        for k in range(_count(data, f"q-{j}-options", MAX_OPTIONS)):
            oid = text(f"q-{j}-o-{k}-id")[:16] or _new_id(option_ids)
            if oid in option_ids:
                oid = _new_id(option_ids)
            option_ids.add(oid)
            options.append(
                {
                    "id": oid,
                    "text_zh": text(f"q-{j}-o-{k}-text_zh"),
                    "text_en": text(f"q-{j}-o-{k}-text_en"),
                    "correct": bool(data.get(f"q-{j}-o-{k}-correct")),
                }
            )
        questions.append(
            {
                "id": qid,
                "multiple": bool(data.get(f"q-{j}-multiple")),
                "text_zh": text(f"q-{j}-text_zh"),
                "text_en": text(f"q-{j}-text_en"),
                "options": options,
            }
        )
    return {
        "title_zh": text("title_zh"),
        "title_en": text("title_en"),
        "pass_mark": text("pass_mark"),
        "based_on": based_on,
        "lessons": lessons,
        "questions": questions,
    }


def apply_edit(draft: dict[str, Any], op: str) -> bool:
    """Apply a row button ("add_lesson", "remove_lesson:2", "add_option:1",
    "remove_option:1:3"...) to ``draft``; False for anything else."""
    name, _sep, rest = op.partition(":")
    try:
        args = [int(a) for a in rest.split(":")] if rest else []
    except ValueError:
        return False
    lessons, questions = draft["lessons"], draft["questions"]
    if name == "add_lesson" and not args and len(lessons) < MAX_LESSONS:
        lessons.append(blank_lesson())
    elif name == "remove_lesson" and len(args) == 1 and 0 <= args[0] < len(lessons):
        lessons.pop(args[0])
    elif name == "add_question" and not args and len(questions) < MAX_QUESTIONS:
        questions.append(blank_question({q["id"] for q in questions}))
    elif name == "remove_question" and len(args) == 1 and 0 <= args[0] < len(questions):
        questions.pop(args[0])
    elif name == "add_option" and len(args) == 1 and 0 <= args[0] < len(questions):
        options = questions[args[0]]["options"]
        if len(options) < MAX_OPTIONS:
            options.append(blank_option({o["id"] for o in options}))
    elif (
        name == "remove_option"
        and len(args) == 2
        and 0 <= args[0] < len(questions)
        and 0 <= args[1] < len(questions[args[0]]["options"])
    ):
        questions[args[0]]["options"].pop(args[1])
    else:
        return False
    return True


def flatten(draft: Mapping[str, Any]) -> MultiValueDict[str, Any]:
    """The draft as the form's data (the inverse of ``draft_from_post``)."""
    data: MultiValueDict[str, Any] = MultiValueDict()
    for key in ("title_zh", "title_en", "pass_mark", "based_on"):
        data[key] = str(draft[key])
    data["lessons"] = str(len(draft["lessons"]))
    for i, lesson in enumerate(draft["lessons"]):
        for key in ("title_zh", "title_en", "body_zh", "body_en"):
            data[f"l-{i}-{key}"] = lesson[key]
        data.setlist(f"l-{i}-images", [str(pk) for pk in lesson["images"]])
    data["questions"] = str(len(draft["questions"]))
    for j, question in enumerate(draft["questions"]):
        data[f"q-{j}-id"] = question["id"]
        data[f"q-{j}-text_zh"] = question["text_zh"]
        data[f"q-{j}-text_en"] = question["text_en"]
        if question["multiple"]:
            data[f"q-{j}-multiple"] = "on"
        data[f"q-{j}-options"] = str(len(question["options"]))
        for k, option in enumerate(question["options"]):
            data[f"q-{j}-o-{k}-id"] = option["id"]
            data[f"q-{j}-o-{k}-text_zh"] = option["text_zh"]
            data[f"q-{j}-o-{k}-text_en"] = option["text_en"]
            if option["correct"]:
                data[f"q-{j}-o-{k}-correct"] = "on"
    return data


def _text(label: Any, max_length: int, *, area: bool = False, rows: int = 6) -> forms.CharField:
    widget = UnfoldAdminTextareaWidget(attrs={"rows": rows}) if area else UnfoldAdminTextInputWidget
    return forms.CharField(label=label, max_length=max_length, required=False, widget=widget)


class VersionForm(forms.Form):
    """The fields of one draft: built for its number of lessons, questions and options.
    Bound (to ``flatten(draft)``) only when publishing, so that adding a row shows no
    errors yet. ``clean`` names every gap: the field's own message, and a line per lesson
    or question at the top."""

    title_zh = _text(gettext_lazy("Title (Chinese)"), TITLE_MAX)
    title_en = _text(gettext_lazy("Title (English)"), TITLE_MAX)
    pass_mark = forms.IntegerField(
        label=gettext_lazy("Pass mark (%)"),
        min_value=1,
        max_value=100,
        widget=UnfoldAdminIntegerFieldWidget,
    )
    based_on = forms.IntegerField(widget=forms.HiddenInput)
    lessons = forms.IntegerField(widget=forms.HiddenInput)
    questions = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        draft: Mapping[str, Any],
        images: list[LessonImage],
        language: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.draft = draft
        image_choices = [(str(image.pk), image.alt(language)) for image in images]
        self.lesson_rows: list[dict[str, Any]] = []
        for i, _lesson in enumerate(draft["lessons"]):
            n = i + 1
            names = {
                "title_zh": _text(_("Lesson %(n)s: title (Chinese)") % {"n": n}, TITLE_MAX),
                "title_en": _text(_("Lesson %(n)s: title (English)") % {"n": n}, TITLE_MAX),
                "body_zh": _text(_("Lesson %(n)s: text (Chinese)") % {"n": n}, BODY_MAX, area=True),
                "body_en": _text(_("Lesson %(n)s: text (English)") % {"n": n}, BODY_MAX, area=True),
                "images": forms.MultipleChoiceField(
                    label=_("Lesson %(n)s: images") % {"n": n},
                    choices=image_choices,
                    required=False,
                    widget=UnfoldAdminCheckboxSelectMultipleWidget,
                ),
            }
            for key, field in names.items():
                self.fields[f"l-{i}-{key}"] = field
            self.lesson_rows.append({"n": i, "number": n, "errors": []})
        self.question_rows: list[dict[str, Any]] = []
        for j, question in enumerate(draft["questions"]):
            n = j + 1
            self.fields[f"q-{j}-id"] = forms.CharField(widget=forms.HiddenInput, required=False)
            self.fields[f"q-{j}-options"] = forms.IntegerField(widget=forms.HiddenInput)
            self.fields[f"q-{j}-text_zh"] = _text(
                _("Question %(n)s (Chinese)") % {"n": n}, TEXT_MAX, area=True, rows=2
            )
            self.fields[f"q-{j}-text_en"] = _text(
                _("Question %(n)s (English)") % {"n": n}, TEXT_MAX, area=True, rows=2
            )
            self.fields[f"q-{j}-multiple"] = forms.BooleanField(
                label=_("Question %(n)s: multiple choice (several correct options)") % {"n": n},
                required=False,
                widget=UnfoldBooleanWidget,
            )
            options = []
            for k, _option in enumerate(question["options"]):
                m = k + 1
                base = f"q-{j}-o-{k}"
                self.fields[f"{base}-id"] = forms.CharField(
                    widget=forms.HiddenInput, required=False
                )
                self.fields[f"{base}-text_zh"] = _text(
                    _("Question %(n)s, option %(m)s (Chinese)") % {"n": n, "m": m}, TEXT_MAX
                )
                self.fields[f"{base}-text_en"] = _text(
                    _("Question %(n)s, option %(m)s (English)") % {"n": n, "m": m}, TEXT_MAX
                )
                self.fields[f"{base}-correct"] = forms.BooleanField(
                    label=_("Question %(n)s, option %(m)s is correct") % {"n": n, "m": m},
                    required=False,
                    widget=UnfoldBooleanWidget,
                )
                options.append({"k": k, "number": m, "base": base})
            self.question_rows.append({"n": j, "number": n, "options": options, "errors": []})

    def bound(self, name: str) -> forms.BoundField:
        return self[name]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for language, label in _LANGUAGES:
            if not str(data.get(f"title_{language}", "")).strip():
                self.add_error(
                    f"title_{language}", _("Write this in %(language)s.") % {"language": label}
                )
        if not self.lesson_rows:
            self.add_error(None, _("A course needs at least one lesson."))
        if not self.question_rows:
            self.add_error(None, _("A course needs at least one quiz question."))
        for row in self.lesson_rows:
            missing = False
            for key in ("title", "body"):
                for language, label in _LANGUAGES:
                    name = f"l-{row['n']}-{key}_{language}"
                    if not str(data.get(name, "")).strip():
                        missing = True
                        self.add_error(name, _("Write this in %(language)s.") % {"language": label})
            if missing:
                row["errors"].append(
                    _(
                        "Lesson %(n)s is incomplete: it needs a title and a text in Chinese "
                        "and in English."
                    )
                    % {"n": row["number"]}
                )
        for row in self.question_rows:
            self._clean_question(row, data)
        for row in [*self.lesson_rows, *self.question_rows]:
            for message in row["errors"]:
                self.add_error(None, message)
        return data

    def _clean_question(self, row: dict[str, Any], data: Mapping[str, Any]) -> None:
        j, n = row["n"], row["number"]
        missing = False
        names = [f"q-{j}-text_zh", f"q-{j}-text_en"]
        names += [f"{o['base']}-text_{lang}" for o in row["options"] for lang in ("zh", "en")]
        for name in names:
            if not str(data.get(name, "")).strip():
                missing = True
                language = _("Chinese") if name.endswith("_zh") else _("English")
                self.add_error(name, _("Write this in %(language)s.") % {"language": language})
        if missing:
            row["errors"].append(
                _(
                    "Question %(n)s is incomplete: its text and every option need Chinese "
                    "and English."
                )
                % {"n": n}
            )
        if len(row["options"]) < 2:
            row["errors"].append(_("Question %(n)s needs at least two options.") % {"n": n})
        correct = sum(bool(data.get(f"{o['base']}-correct")) for o in row["options"])
        if correct == 0:
            row["errors"].append(_("Question %(n)s: tick its correct option.") % {"n": n})
        elif correct > 1 and not data.get(f"q-{j}-multiple"):
            row["errors"].append(
                _(
                    "Question %(n)s has %(count)s correct options: tick “multiple choice”, "
                    "or leave one correct option."
                )
                % {"n": n, "count": correct}
            )

    def content(self) -> dict[str, Any]:
        """The version's content from the cleaned form (after ``is_valid``)."""
        data = self.cleaned_data
        lessons = [
            {
                **{
                    key: str(data[f"l-{row['n']}-{key}"]).strip()
                    for key in ("title_zh", "title_en", "body_zh", "body_en")
                },
                "images": [int(pk) for pk in data[f"l-{row['n']}-images"]],
            }
            for row in self.lesson_rows
        ]
        questions = []
        for row, question in zip(self.question_rows, self.draft["questions"], strict=True):
            j = row["n"]
            questions.append(
                {
                    "id": question["id"],
                    "multiple": bool(data[f"q-{j}-multiple"]),
                    "text_zh": str(data[f"q-{j}-text_zh"]).strip(),
                    "text_en": str(data[f"q-{j}-text_en"]).strip(),
                    "options": [
                        {
                            "id": option["id"],
                            "text_zh": str(data[f"{o['base']}-text_zh"]).strip(),
                            "text_en": str(data[f"{o['base']}-text_en"]).strip(),
                            "correct": bool(data[f"{o['base']}-correct"]),
                        }
                        for o, option in zip(row["options"], question["options"], strict=True)
                    ],
                }
            )
        return {"lessons": lessons, "questions": questions}


class ImageUploadForm(forms.Form):
    """A picture uploaded from the version form (into one lesson) or the image list."""

    image = forms.FileField(
        label=gettext_lazy("Image file (PNG, JPEG or WebP)"),
        required=False,
        help_text=gettext_lazy(
            "No personal data: no real names, phone numbers, addresses or faces."
        ),
    )
    alt_zh = forms.CharField(
        label=gettext_lazy("Description (Chinese)"),
        max_length=LESSON_IMAGE_ALT_MAX_LENGTH,
        required=False,
        widget=UnfoldAdminTextInputWidget,
    )
    alt_en = forms.CharField(
        label=gettext_lazy("Description (English)"),
        max_length=LESSON_IMAGE_ALT_MAX_LENGTH,
        required=False,
        widget=UnfoldAdminTextInputWidget,
    )

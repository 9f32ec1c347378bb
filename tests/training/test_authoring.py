"""Course authoring in the back office (issue 19, point 1): a tenant administrator creates
a course and publishes a new version from the current one — lessons with pictures,
questions, options — through forms; refusals name the problem and publish nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory
from tests.training.conftest import SYSTEM
from tests.training.images import SVG, picture
from training.authoring import draft_from_version, flatten
from training.courses import current_course_version, publish_course_version
from training.lesson_images import upload_lesson_image
from training.models import Course, CourseVersion, LessonImage
from training.starter import ALL_STAFF, KITCHEN_PACKING, seed_training

pytestmark = pytest.mark.django_db(databases="__all__")


def _admin(client: Client, tenant: Tenant, role: Role = Role.TENANT_ADMIN) -> User:
    user = UserFactory(tenant=tenant, roles=[role])
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # messages asserted in English
    return user


def _course(tenant: Tenant, code: str = ALL_STAFF["code"]) -> Course:
    with tenant_scope(tenant):
        return Course.objects.get(code=code)


def _url(course: Course) -> str:
    return reverse("admin:training_course_publish", args=[course.pk])


def _form_data(course: Course) -> dict[str, Any]:
    """What the version form posts as first shown: the current version's content."""
    data = flatten(draft_from_version(current_course_version(course)))
    return {key: data.getlist(key) for key in data}


def _versions(course: Course) -> list[int]:
    with tenant_scope(course.tenant_id):
        return list(
            CourseVersion.objects.filter(course=course)
            .order_by("version")
            .values_list("version", flat=True)
        )


def _errors(response: Any) -> list[str]:
    return [str(e) for e in response.context["form"].non_field_errors()]


def test_a_tenant_administrator_creates_a_course(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    response = client.post(
        reverse("admin:training_course_add"),
        {
            "code": "dispatch-basics",
            "roles": [Role.DISPATCHER, Role.SUPERVISOR],
            "renew_months": "6",
            "renew_on_new_version": "on",
        },
    )
    course = _course(tenant, "dispatch-basics")
    assert response.status_code == 302 and response["Location"] == _url(course)
    assert (course.roles, course.renew_months, course.induction) == (
        sorted([Role.DISPATCHER.value, Role.SUPERVISOR.value]),
        6,
        False,
    )
    first = client.get(_url(course))
    assert first.status_code == 200 and first.context["next_version"] == 1
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(action="training.course_created").count() == 4


def test_a_course_code_is_taken_once(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    response = client.post(
        reverse("admin:training_course_add"), {"code": ALL_STAFF["code"], "roles": [Role.KITCHEN]}
    )
    assert response.status_code == 409
    assert response.context["form"].errors["code"] == ["A course with this code exists already."]


def test_version_2_adds_a_lesson_with_an_image_and_a_question(
    client: Client, tenant: Tenant
) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    data = _form_data(course)
    # "Add a lesson", then "Add a question": the form comes back one row longer each time.
    data["op"] = ["add_lesson"]
    response = client.post(_url(course), data)
    assert response.status_code == 200 and 'name="l-3-title_zh"' in response.content.decode()
    data.update({"lessons": ["4"], "op": ["add_question"]})
    questions = int(data["questions"][0])
    response = client.post(_url(course), data)
    new_q = questions
    assert f'name="q-{new_q}-o-1-text_en"' in response.content.decode()
    draft = response.context["form"].draft
    data.update(
        {
            "l-3-title_zh": ["封条"],
            "l-3-title_en": ["The seal"],
            "l-3-body_zh": ["检查封条。"],
            "l-3-body_en": ["Check the seal."],
            "l-3-upload-alt_zh": ["完好的封条"],
            "l-3-upload-alt_en": ["An intact seal"],
            "l-3-upload-image": [SimpleUploadedFile("seal.png", picture(), "image/png")],
            "questions": [str(questions + 1)],
            f"q-{new_q}-id": [draft["questions"][new_q]["id"]],
            f"q-{new_q}-options": ["2"],
            f"q-{new_q}-text_zh": ["封条破损怎么办？"],
            f"q-{new_q}-text_en": ["A broken seal?"],
            f"q-{new_q}-o-0-id": ["x"],
            f"q-{new_q}-o-0-text_zh": ["报告"],
            f"q-{new_q}-o-0-text_en": ["Report it"],
            f"q-{new_q}-o-0-correct": ["on"],
            f"q-{new_q}-o-1-id": ["y"],
            f"q-{new_q}-o-1-text_zh": ["照送"],
            f"q-{new_q}-o-1-text_en": ["Deliver anyway"],
            "op": ["publish"],
        }
    )
    response = client.post(_url(course), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:training_course_change", args=[course.pk])
    version = current_course_version(course)
    assert version is not None and version.version == 2
    lessons, quiz = version.content["lessons"], version.content["questions"]
    with tenant_scope(tenant):
        image = LessonImage.objects.get(alt_en="An intact seal")
    assert (len(lessons), lessons[3]["title_en"], lessons[3]["images"]) == (
        4,
        "The seal",
        [image.pk],
    )
    assert quiz[-1]["options"] == [
        {"id": "x", "text_zh": "报告", "text_en": "Report it", "correct": True},
        {"id": "y", "text_zh": "照送", "text_en": "Deliver anyway", "correct": False},
    ]
    page = client.get(response["Location"]).content.decode()
    assert 'data-version="2"' in page
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(action="training.course_published").count() == 4


def test_a_question_without_a_correct_option_is_refused(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    data = _form_data(course)
    for key in [k for k in data if k.startswith("q-0-o-") and k.endswith("-correct")]:
        del data[key]
    data["op"] = ["publish"]
    response = client.post(_url(course), data)
    assert response.status_code == 400
    assert _errors(response) == ["Question 1: tick its correct option."]
    assert _versions(course) == [1]


def test_missing_english_text_is_named(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    data = {**_form_data(course), "l-1-body_en": ["  "], "q-0-o-0-text_en": [""], "op": ["publish"]}
    response = client.post(_url(course), data)
    assert response.status_code == 400
    assert _errors(response) == [
        "Lesson 2 is incomplete: it needs a title and a text in Chinese and in English.",
        "Question 1 is incomplete: its text and every option need Chinese and English.",
    ]
    assert response.context["form"].errors["l-1-body_en"] == ["Write this in English."]
    assert _versions(course) == [1]


def test_another_tenants_image_cannot_be_put_in_a_lesson(client: Client, tenant: Tenant) -> None:
    stranger = upload_lesson_image(
        tenant=TenantFactory(),
        actor=SYSTEM,
        data=picture(colour="#ff0000"),
        alt_zh="别人的",
        alt_en="Someone else's",
    )
    _admin(client, tenant)
    course = _course(tenant)
    data = {**_form_data(course), "l-0-images": [str(stranger.pk)], "op": ["publish"]}
    response = client.post(_url(course), data)
    assert response.status_code == 400
    assert "l-0-images" in response.context["form"].errors
    content = {**current_course_version(course).content}  # type: ignore[union-attr]
    content["lessons"] = [{**content["lessons"][0], "images": [stranger.pk]}]
    with pytest.raises(ValidationError) as error:
        publish_course_version(
            course=course, actor=SYSTEM, title_zh="标题", title_en="Title", content=content
        )
    assert error.value.messages == ["Lesson 1 names an image that does not exist."]
    assert _versions(course) == [1]


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("label.svg", SVG, "image/svg+xml"),
            "SVG images are refused: they can carry scripts. Upload a PNG, JPEG or WebP image.",
        ),
        (
            SimpleUploadedFile("big.png", picture() + b"\0" * 3000, "image/png"),
            "The image is too big: 4 KB, at most 2 KB.",
        ),
    ],
)
def test_a_refused_upload_is_named_and_nothing_is_published(
    client: Client, tenant: Tenant, settings: Any, upload: Any, message: str
) -> None:
    settings.LESSON_IMAGE_MAX_BYTES = 2048
    _admin(client, tenant)
    course = _course(tenant)
    data = {
        **_form_data(course),
        "l-0-upload-image": [upload],
        "l-0-upload-alt_zh": ["图"],
        "l-0-upload-alt_en": ["A picture"],
        "op": ["publish"],
    }
    response = client.post(_url(course), data)
    upload_form = response.context["lesson_rows"][0]["upload"]
    assert response.status_code == 400 and upload_form.errors["image"] == [message]
    assert _versions(course) == [1]
    with tenant_scope(tenant):
        assert not LessonImage.objects.filter(alt_en="A picture").exists()


def test_the_same_form_submitted_twice_publishes_once(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    data = {**_form_data(course), "title_en": ["Rules, revised"], "op": ["publish"]}
    assert client.post(_url(course), data).status_code == 302
    again = client.post(_url(course), data)
    assert again.status_code == 409
    assert [str(m) for m in again.context["messages"]][-1:] == [
        "Version 2 of this course was published after you opened this form (from version 1): "
        "nothing was published. Open the current version and make your changes again."
    ]
    assert _versions(course) == [1, 2]


def test_rows_are_added_and_removed_without_javascript(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    data = {**_form_data(course), "op": ["add_option:0"]}
    options = int(data["q-0-options"][0])
    draft = client.post(_url(course), data).context["form"].draft
    assert len(draft["questions"][0]["options"]) == options + 1
    data = {**_form_data(course), "op": ["remove_lesson:0"]}
    draft = client.post(_url(course), data).context["form"].draft
    assert [x["title_en"] for x in draft["lessons"]] == [
        x["title_en"] for x in ALL_STAFF["lessons"][1:]
    ]
    data = {**_form_data(course), "op": ["remove_option:0:1"]}
    draft = client.post(_url(course), data).context["form"].draft
    assert len(draft["questions"][0]["options"]) == options - 1
    assert _versions(course) == [1]


def test_the_preview_shows_the_quiz_without_the_answers(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    response = client.post(
        _url(course), {**_form_data(course), "op": ["preview"]}, HTTP_ACCEPT_LANGUAGE="en"
    )
    page = response.content.decode()
    preview = page[
        page.index('id="preview"') : page.index("</section>", page.index('id="preview"'))
    ]
    first = ALL_STAFF["questions"][0]
    assert first["text_en"] in preview and first["options"][0]["text_en"] in preview
    assert "checked" not in preview and 'class="lesson-image"' in preview


@pytest.mark.parametrize(
    ("role", "own_tenant", "shown", "posted", "versions"),
    [
        (Role.TENANT_ADMIN, True, 200, 302, [1, 2]),
        (Role.SUPERVISOR, True, 403, 403, [1]),
        (Role.KITCHEN, True, 404, 404, [1]),
        (Role.CUSTOMER_SERVICE, True, 404, 404, [1]),
        (Role.TENANT_ADMIN, False, 404, 404, [1]),
    ],
)
def test_who_may_open_the_version_form(
    client: Client,
    tenant: Tenant,
    role: Role,
    own_tenant: bool,
    shown: int,
    posted: int,
    versions: list[int],
) -> None:
    other = TenantFactory()
    seed_training(other, SYSTEM)
    _admin(client, tenant if own_tenant else other, role)
    course = _course(tenant)
    assert client.get(_url(course)).status_code == shown
    assert client.post(_url(course), {**_form_data(course), "op": ["publish"]}).status_code == (
        posted
    )
    assert _versions(course) == versions


def test_only_a_tenant_administrator_adds_a_course_or_an_image(
    client: Client, tenant: Tenant
) -> None:
    _admin(client, tenant, Role.SUPERVISOR)
    assert client.get(reverse("admin:training_course_add")).status_code == 403
    assert client.get(reverse("admin:training_lessonimage_add")).status_code == 403
    assert client.get(reverse("admin:training_course_changelist")).status_code == 200


def test_a_tenant_administrator_uploads_an_image_to_the_library(
    client: Client, tenant: Tenant
) -> None:
    _admin(client, tenant)
    response = client.post(
        reverse("admin:training_lessonimage_add"),
        {
            "image": SimpleUploadedFile("a.webp", picture("WEBP"), "image/webp"),
            "alt_zh": "图",
            "alt_en": "A picture",
        },
    )
    assert response.status_code == 302
    listing = client.get(
        reverse("admin:training_lessonimage_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "A picture" in listing.content.decode()


def test_the_chinese_version_form_renders(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    page = client.get(_url(course), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    assert 'lang="zh-hans"' in page.content.decode()
    assert ALL_STAFF["title_zh"] in page.content.decode()


def test_a_mangled_form_is_a_named_refusal_never_a_crash(client: Client, tenant: Tenant) -> None:
    _admin(client, tenant)
    course = _course(tenant)
    mangled = {"lessons": ["abc"], "questions": ["-5"], "op": ["remove_lesson:99"]}
    assert client.post(_url(course), mangled).status_code == 200
    # Digits that are not ASCII ("²".isdigit() is true, int("²") raises).
    superscript = {**_form_data(course), "l-0-images": ["²", "١"], "op": ["preview"]}
    assert client.post(_url(course), superscript).status_code in (200, 400)
    data = {
        **_form_data(course),
        "pass_mark": ["eighty"],
        "title_zh": ["标题\x00"],
        "op": ["publish"],
    }
    response = client.post(_url(course), data)
    assert response.status_code == 400
    assert response.context["form"].errors["pass_mark"] == ["Enter a whole number."]
    empty = client.post(_url(course), {"op": ["publish"], "based_on": ["1"]})
    assert empty.status_code == 400
    assert _errors(empty)[:2] == [
        "A course needs at least one lesson.",
        "A course needs at least one quiz question.",
    ]
    assert _versions(course) == [1]


def test_the_form_says_what_publishing_does_to_the_gates(client: Client, tenant: Tenant) -> None:
    """The induction course gates customer service's reveals: a new version gives those who
    passed the previous one the tenant's grace period; the kitchen's course gates nothing."""
    _admin(client, tenant)
    page = client.get(_url(_course(tenant))).content.decode()
    assert "people who passed an earlier version have 14 days to pass this one" in page
    assert "customer service and privacy officers cannot reveal personal data" in page
    kitchen = client.get(_url(_course(tenant, KITCHEN_PACKING["code"]))).content.decode()
    assert 'id="gate-note"' not in kitchen

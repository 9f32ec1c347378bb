"""Lesson images (issue 19, point 1): what an upload may be, where it is kept, and who may
fetch it — the tenant's own users, with its type, nosniff and a private cache."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory
from tests.training.conftest import SYSTEM
from tests.training.images import SVG, picture
from training.courses import current_course_version
from training.lesson_images import read_header, upload_lesson_image
from training.models import Course, LessonImage
from training.starter import ALL_STAFF, KITCHEN_PACKING, RIDERS

pytestmark = pytest.mark.django_db(databases="__all__")


def _upload(tenant: Tenant, data: bytes, **kwargs: Any) -> LessonImage:
    return upload_lesson_image(
        tenant=tenant,
        actor=kwargs.pop("actor", SYSTEM),
        data=data,
        alt_zh=kwargs.pop("alt_zh", "正确的标签"),
        alt_en=kwargs.pop("alt_en", "A correct label"),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")],
)
def test_the_bytes_decide_the_type_and_the_dimensions(kind: str, content_type: str) -> None:
    header = read_header(picture(kind, (123, 45)), name="whatever.gif", declared_type="image/gif")
    assert (header.content_type, header.width, header.height) == (content_type, 123, 45)


def test_an_upload_is_kept_under_its_hash_in_the_tenants_folder(settings: Any) -> None:
    tenant = TenantFactory()
    data = picture()
    image = _upload(tenant, data)
    sha = hashlib.sha256(data).hexdigest()
    stored = Path(settings.LESSON_IMAGE_DIR) / str(tenant.pk) / sha
    assert (image.sha256, image.size, image.width, image.height) == (sha, len(data), 40, 30)
    assert stored.read_bytes() == data
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="training.lesson_image_uploaded")
    assert event.details == {"image": image.pk, "sha256": sha, "size": len(data)}


def test_the_same_bytes_uploaded_twice_are_one_image() -> None:
    tenant = TenantFactory()
    first = _upload(tenant, picture())
    second = _upload(tenant, picture(), alt_en="Another description")
    with tenant_scope(tenant):
        assert (second.pk, LessonImage.objects.count()) == (first.pk, 1)


def test_svg_is_refused_because_it_can_carry_scripts() -> None:
    with pytest.raises(ValidationError) as error:
        _upload(TenantFactory(), SVG, name="label.png", declared_type="image/png")
    assert error.value.messages == [
        "SVG images are refused: they can carry scripts. Upload a PNG, JPEG or WebP image."
    ]


def test_another_type_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as error:
        _upload(TenantFactory(), picture("GIF"), name="a.gif", declared_type="image/gif")
    assert error.value.messages == [
        "Unsupported image type: image/gif. Upload a PNG, JPEG or WebP image."
    ]


def test_an_image_over_the_size_cap_is_refused(settings: Any) -> None:
    settings.LESSON_IMAGE_MAX_BYTES = 1024
    with pytest.raises(ValidationError) as error:
        _upload(TenantFactory(), picture(size=(400, 400), colour="#123456") + b"\0" * 2048)
    assert error.value.messages[0].startswith("The image is too big:")
    assert not list(Path(settings.LESSON_IMAGE_DIR).glob("*/*"))


def test_an_image_needs_a_description_in_both_languages() -> None:
    with pytest.raises(ValidationError) as error:
        _upload(TenantFactory(), picture(), alt_en=" ")
    assert error.value.message_dict == {"alt_en": ["Describe the image in English."]}


def test_only_a_tenant_administrator_uploads() -> None:
    tenant = TenantFactory()
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    with pytest.raises(PermissionDenied):
        _upload(tenant, picture(), actor=supervisor)


def test_the_tenants_users_get_the_image_with_its_type_nosniff_and_a_private_cache(
    client: Client,
) -> None:
    tenant = TenantFactory()
    data = picture("JPEG")
    image = _upload(tenant, data)
    client.force_login(UserFactory(tenant=tenant, roles=[Role.RIDER]))
    response = client.get(reverse("training:lesson-image", args=[image.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, max-age=86400, immutable"


def test_another_tenants_image_is_not_found(client: Client) -> None:
    image = _upload(TenantFactory(), picture())
    client.force_login(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    assert client.get(reverse("training:lesson-image", args=[image.pk])).status_code == 404
    assert client.get(reverse("training:lesson-image", args=[999999])).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client: Client) -> None:
    image = _upload(TenantFactory(), picture())
    response = client.get(reverse("training:lesson-image", args=[image.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("spec", [ALL_STAFF, RIDERS, KITCHEN_PACKING])
def test_every_starter_course_shows_a_picture(tenant: Tenant, spec: dict[str, Any]) -> None:
    with tenant_scope(tenant):
        course = Course.objects.get(code=spec["code"])
    version = current_course_version(course)
    assert version is not None
    ids = [i for lesson in version.content["lessons"] for i in lesson["images"]]
    with tenant_scope(tenant):
        assert ids and LessonImage.objects.filter(pk__in=ids).count() == len(set(ids))


@pytest.mark.parametrize(
    ("language", "alt"),
    [("en", "A correct label shows only the order code"), ("zh-hans", "正确的标签只显示订单号")],
)
def test_the_lesson_page_shows_its_pictures_with_the_pages_language(
    client: Client, tenant: Tenant, language: str, alt: str
) -> None:
    client.force_login(UserFactory(tenant=tenant, roles=[Role.PACKER]))
    page = client.get(
        reverse("training:lesson", args=[KITCHEN_PACKING["code"], 1]),
        HTTP_ACCEPT_LANGUAGE=language,
    ).content.decode()
    assert page.count('class="lesson-image"') == 2
    assert f'alt="{alt}' in page

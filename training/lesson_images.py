"""Lesson images (issue 19, point 1): a tenant administrator uploads a PNG, JPEG or WebP
picture that lessons then show. The bytes decide the type (never the file name or the
browser's claim), SVG is refused (an SVG document can carry scripts), and the size and
dimensions are capped. The file is kept in clear — lesson pictures hold no personal data,
and the upload form says so — as ``LESSON_IMAGE_DIR/<tenant id>/<sha256>``; the same bytes
uploaded twice are one image. Only ``training.views_images`` serves the files, to the
tenant's own users.

The type is read from the header by hand rather than with Pillow: Pillow is a test-only
dependency here, and what the server needs — the type and the dimensions — is in the first
bytes of each of these formats. Browsers decode the picture; the response says its type
with ``nosniff``, so nothing else is ever interpreted from it."""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audits.services import record_event
from tenants.actors import Actor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from training.models import LESSON_IMAGE_ALT_MAX_LENGTH, LessonImage, LessonImageType

# Larger pictures are no lesson illustration and cost the phone's memory to decode.
MAX_SIDE = 6000


@dataclass(frozen=True)
class ImageHeader:
    content_type: str
    width: int | None
    height: int | None


def max_image_bytes() -> int:
    return int(settings.LESSON_IMAGE_MAX_BYTES)


def _image_dir(tenant_id: int) -> Path:
    return Path(settings.LESSON_IMAGE_DIR) / str(int(tenant_id))


def image_path(image: LessonImage) -> Path:
    return _image_dir(image.tenant_id) / image.sha256


def _png(data: bytes) -> ImageHeader | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader(LessonImageType.PNG, width, height)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageHeader | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageHeader(LessonImageType.JPEG, width, height)
        if marker == 0xDA or length < 2:  # image data before any frame header: broken
            return None
        i += 2 + length
    return None


def _webp(data: bytes) -> ImageHeader | None:
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader(LessonImageType.WEBP, width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader(LessonImageType.WEBP, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader(LessonImageType.WEBP, width, height)
    return None


def _looks_like_svg(data: bytes, name: str, declared_type: str) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return (
        declared_type.lower().startswith("image/svg")
        or name.lower().endswith((".svg", ".svgz"))
        or head.startswith((b"<svg", b"<?xml", b"<!doctype svg"))
        or b"<svg" in head
    )


def read_header(data: bytes, *, name: str = "", declared_type: str = "") -> ImageHeader:
    """The type and dimensions of an uploaded picture, or a ``ValidationError`` naming
    what is wrong with it."""
    if not data:
        raise ValidationError(_("The image file is empty."))
    if _looks_like_svg(data, name, declared_type):
        raise ValidationError(
            _("SVG images are refused: they can carry scripts. Upload a PNG, JPEG or WebP image.")
        )
    header = _png(data) or _jpeg(data) or _webp(data)
    if header is None:
        what = declared_type or (name.rsplit(".", 1)[-1] if "." in name else "") or "?"
        if any(kind in what.lower() for kind in ("png", "jpeg", "jpg", "webp")):
            # Named or sent as an image, but its bytes are not one.
            raise ValidationError(
                _(
                    "This file is not a valid PNG, JPEG or WebP image: its contents are not an image."
                )
            )
        raise ValidationError(
            _("Unsupported image type: %(type)s. Upload a PNG, JPEG or WebP image.")
            % {"type": what[:40]}
        )
    if not header.width or not header.height:
        raise ValidationError(_("The image's dimensions could not be read."))
    if header.width > MAX_SIDE or header.height > MAX_SIDE:
        raise ValidationError(
            _("The image is too large: at most %(max)s pixels a side.") % {"max": MAX_SIDE}
        )
    return header


def _require_admin(actor: Actor, tenant: Tenant) -> None:
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN)
    ):
        raise PermissionDenied(_("Only a tenant administrator publishes training."))


def _alt(field: str, value: str, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError(
            {field: _("Describe the image in %(language)s.") % {"language": label}}
        )
    if len(text) > LESSON_IMAGE_ALT_MAX_LENGTH or "\x00" in text:
        raise ValidationError(
            {
                field: _("The description is at most %(max)s characters.")
                % {"max": LESSON_IMAGE_ALT_MAX_LENGTH}
            }
        )
    return text


def _write_file(directory: Path, sha256: str, data: bytes) -> bool:
    """Write the file once (atomically); True when this call created it."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / sha256
    if target.exists():
        return False
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def upload_lesson_image(
    *,
    tenant: Tenant,
    actor: Actor,
    data: bytes,
    alt_zh: str,
    alt_en: str,
    name: str = "",
    declared_type: str = "",
) -> LessonImage:
    """Store a lesson picture of ``tenant`` (audited: ``training.lesson_image_uploaded``).
    Bytes already uploaded by the tenant give the existing image (its descriptions kept).
    A refusal writes nothing; a file written for a row that then fails is removed."""
    _require_admin(actor, tenant)
    limit = max_image_bytes()
    if len(data) > limit:
        raise ValidationError(
            _("The image is too big: %(size)s KB, at most %(max)s KB.")
            % {"size": (len(data) + 1023) // 1024, "max": limit // 1024}
        )
    header = read_header(data, name=name, declared_type=declared_type)
    texts = {
        "alt_zh": _alt("alt_zh", alt_zh, _("Chinese")),
        "alt_en": _alt("alt_en", alt_en, _("English")),
    }
    sha256 = hashlib.sha256(data).hexdigest()
    with tenant_scope(tenant):
        existing = LessonImage.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    created = _write_file(_image_dir(tenant.pk), sha256, data)
    try:
        with tenant_scope(tenant), transaction.atomic():
            image = LessonImage(
                tenant=tenant,
                sha256=sha256,
                content_type=header.content_type,
                size=len(data),
                width=header.width,
                height=header.height,
                uploaded_by=actor_label(actor),
                **texts,
            )
            image.save(force_insert=True)
            record_event(
                tenant=tenant,
                actor=actor,
                action="training.lesson_image_uploaded",
                target=image,
                details={"image": image.pk, "sha256": sha256, "size": len(data)},
            )
    except IntegrityError:
        # The same bytes uploaded at the same moment: the other upload's row stands.
        with tenant_scope(tenant):
            return LessonImage.objects.get(sha256=sha256)
    except BaseException:
        if created:
            (_image_dir(tenant.pk) / sha256).unlink(missing_ok=True)
        raise
    return image


def tenant_images(tenant_id: int) -> list[LessonImage]:
    with tenant_scope(tenant_id):
        return list(LessonImage.objects.order_by("-uploaded_at", "-pk")[:200])


def images_by_id(tenant_id: int, ids: Iterable[object]) -> dict[int, LessonImage]:
    """The tenant's images among ``ids`` (anything not an id of the tenant's is left out)."""
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    with tenant_scope(tenant_id):
        return {image.pk: image for image in LessonImage.objects.filter(pk__in=wanted)}


def image_for(tenant_id: int | None, image_id: int) -> LessonImage | None:
    """A tenant's image by id; another tenant's, or none, is None."""
    if tenant_id is None:
        return None
    with tenant_scope(tenant_id):
        return LessonImage.objects.filter(pk=image_id).first()

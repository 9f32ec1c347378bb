"""Serving lesson images (training.lesson_images) to the tenant's own users: a logged-in
user of the image's tenant gets the file with its stored type, ``nosniff``, and a private
cache of a day (the bytes behind an id never change: the file is named by its hash).
Another tenant's image, a user without a role in the tenant, or a missing file, is a 404."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from tenants.models import User
from tenants.roles import roles_of
from training.lesson_images import image_for, image_path

CACHE_SECONDS = 24 * 3600


@require_safe
@login_required(login_url="admin:login")
def lesson_image(request: HttpRequest, pk: int) -> HttpResponseBase:
    user = cast(User, request.user)
    # Like the learners' pages: a user of the tenant who holds a role there.
    image = image_for(user.tenant_id, pk) if roles_of(user) else None
    if image is None:
        raise Http404(_("No such image."))
    try:
        handle = image_path(image).open("rb")
    except FileNotFoundError:
        raise Http404(_("No such image.")) from None
    response = FileResponse(handle, content_type=image.content_type)
    response["Content-Length"] = str(image.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = f"private, max-age={CACHE_SECONDS}, immutable"
    response["Content-Disposition"] = "inline"
    response["ETag"] = f'"{image.sha256}"'
    # Even opened on its own, a picture runs nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.cacheable_content = True  # type: ignore[attr-defined]  # tenants.headers
    return response

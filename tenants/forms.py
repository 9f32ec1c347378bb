"""Forms of the back office's own pages in tenants (the admin's model forms live in admin.py)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldBooleanSwitchWidget,
)

from tenants.models import Tenant
from tenants.services import (
    PRIVACY_REPORT_DAYS_MIN,
    TRAINING_GRACE_DAYS_MAX,
    privacy_report_days_max,
)
from tenants.timezones import time_zone_choices, validate_time_zone


def _help(name: str) -> Any:
    """The model field's help text, so the page and the operator's form say the same."""
    return cast(Any, Tenant._meta.get_field(name)).help_text


class TenantSettingsForm(forms.Form):
    """What a tenant administrator may change of their own tenant, and nothing else: fields
    posted beside these (a slug, ``is_active``, another tenant's id) are ignored."""

    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_help("time_zone"),
        validators=[validate_time_zone],
        widget=UnfoldAdminSelectWidget,
        error_messages={
            "required": _("Choose the tenant's time zone."),
            # The posted value is not echoed back: it can be anything, of any length.
            "invalid_choice": _(
                "This is not one of the time zones offered here. Choose one from the list."
            ),
        },
    )
    send_pin_by_sms = forms.BooleanField(
        label=_("Send the delivery PIN to the customer by SMS at intake"),
        help_text=_help("send_pin_by_sms"),
        required=False,
        widget=UnfoldBooleanSwitchWidget,
    )

    privacy_report_days = forms.IntegerField(
        label=_("Days to answer a customer's privacy report"),
        help_text=_help("privacy_report_days"),
        required=False,
        min_value=PRIVACY_REPORT_DAYS_MIN,
        widget=UnfoldAdminIntegerFieldWidget,
    )

    training_grace_days = forms.IntegerField(
        label=_("Training grace period (days)"),
        help_text=_help("training_grace_days"),
        min_value=0,
        max_value=TRAINING_GRACE_DAYS_MAX,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget,
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "training_grace_days": tenant.training_grace_days,
                "time_zone": tenant.time_zone,
                "send_pin_by_sms": tenant.send_pin_by_sms,
                "privacy_report_days": tenant.privacy_report_days,
            },
        )
        super().__init__(*args, **kwargs)
        self._grace_days = tenant.training_grace_days
        days = cast(forms.IntegerField, self.fields["privacy_report_days"])
        days.max_value = privacy_report_days_max()  # the platform's default, read now
        days.validators.append(MaxValueValidator(days.max_value))
        days.widget.attrs["max"] = str(days.max_value)
        self.fields["time_zone"].choices = time_zone_choices(tenant.time_zone)  # type: ignore[attr-defined]

    def clean_training_grace_days(self) -> int:
        """Left empty: kept as it is (the field has a value, 14 days by default)."""
        value = self.cleaned_data.get("training_grace_days")
        return self._grace_days if value is None else int(value)

    def show_current_zone_if_refused(self, tenant: Tenant) -> None:
        """After a refused zone (only a hand-made POST can send one), the select shows the
        tenant's current zone rather than the list's first entry beside the error."""
        if self.is_bound and "time_zone" in self.errors:
            self.data = {**self.data, "time_zone": tenant.time_zone}


class NotificationChannelForm(forms.Form):
    """How the tenant's staff hear of back-office notifications besides the inbox."""

    notification_channel = forms.ChoiceField(
        label=_("Notification channel"),
        help_text=_help("notification_channel"),
        choices=Tenant._meta.get_field("notification_channel").choices,  # type: ignore[arg-type]
        widget=UnfoldAdminSelectWidget,
    )
    notification_webhook_url = forms.CharField(
        label=_("Webhook URL"),
        required=False,
        max_length=500,
        help_text=_(
            "For the webhook channel: the https:// address that receives each notification, "
            "signed with the tenant's secret (shown once, when made)."
        ),
    )
    new_secret = forms.BooleanField(
        label=_("Make a new signing secret (the old one stops working)"),
        required=False,
        widget=UnfoldBooleanSwitchWidget,
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "notification_channel": tenant.notification_channel,
            },
        )
        super().__init__(*args, **kwargs)
        from unfold.widgets import UnfoldAdminTextInputWidget

        from tenants.notifications import masked_webhook_url

        field = self.fields["notification_webhook_url"]
        field.widget = UnfoldAdminTextInputWidget()
        # The saved URL is write-only (it may hold the receiver's token): shown masked.
        if tenant.notification_webhook_url:
            field.help_text = _(
                "Saved: %(url)s. Leave empty to keep it; enter the whole URL to change it."
            ) % {"url": masked_webhook_url(tenant.notification_webhook_url)}

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from api.keys import api_key_create, api_key_revoke, api_key_set_scopes
from api.models import DEFAULT_SCOPES, ApiKey, Scope


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=DEFAULT_SCOPES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("scopes"),
        help_text=_(
            "What the key may do for the Telegram user a call names. Grant VPN links, balance "
            "spending and mock purchases only to backends that need them."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "scope_list", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    fields = ["name", "scopes", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description=_("scopes"))
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes) if api_key.scopes else gettext("none")

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        scopes = form.cleaned_data["scopes"]
        if change:
            api_key_set_scopes(api_key=obj, scopes=scopes)
            return
        issued = api_key_create(name=obj.name, scopes=scopes, created_by=request.user)
        obj.pk = issued.api_key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            gettext("API key for “%(name)s”: %(key)s — copy it now: it is stored hashed, never shown again.")
            % {"name": obj.name, "key": issued.raw_key},
        )

    @admin.action(description=_("Revoke selected API keys"))
    def revoke(self, request, queryset):
        revoked = sum(api_key_revoke(api_key=key) for key in queryset)
        message = ngettext("Revoked %(count)s API key.", "Revoked %(count)s API keys.", revoked) % {"count": revoked}
        self.message_user(request, message, messages.SUCCESS)

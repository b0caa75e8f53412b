"""Forms behind the rollout page's actions. Each carries the revision the operator saw."""

from __future__ import annotations

from django import forms

from rollouts.models import AgentVersion, Rollout

REASON_HELP = "Why now? It goes into the audit trail next to the gate evidence."


class RolloutChangeForm(forms.Form):
    expected_revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. win rate holds at 25%"}),
        help_text=REASON_HELP,
        error_messages={"required": "Give a reason: it goes into the audit trail."},
    )

    def __init__(self, *args, rollout: Rollout, **kwargs) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("expected_revision", rollout.revision)
        super().__init__(*args, **kwargs)
        self.rollout = rollout


class PercentForm(RolloutChangeForm):
    percent = forms.IntegerField(
        min_value=0,
        max_value=100,
        error_messages={
            "required": "Give a percent from 0 to 100.",
            "invalid": "The percent must be a whole number from 0 to 100.",
            "min_value": "The percent must be between 0 and 100.",
            "max_value": "The percent must be between 0 and 100.",
        },
    )


class StartShadowForm(RolloutChangeForm):
    candidate = forms.ModelChoiceField(
        queryset=AgentVersion.objects.none(),
        to_field_name="name",
        empty_label=None,
        error_messages={"invalid_choice": "Unknown version: pick one of this agent's versions."},
    )
    shadow_percent = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=100,
        help_text="Share of requests the candidate also answers, logged only.",
        error_messages={
            "min_value": "Shadowing needs a shadow percent from 1 to 100.",
            "max_value": "Shadowing needs a shadow percent from 1 to 100.",
        },
    )

    def __init__(self, *args, rollout: Rollout, **kwargs) -> None:
        super().__init__(*args, rollout=rollout, **kwargs)
        versions = AgentVersion.objects.filter(agent_id=rollout.agent_id).order_by("-created_at")
        field = self.fields["candidate"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = versions
        default = rollout.candidate
        if default is None and rollout.production_id is not None:
            default = versions.exclude(pk=rollout.production_id).first()
        if default is not None and "candidate" not in self.initial:
            self.initial["candidate"] = default.name


class PromoteForm(RolloutChangeForm):
    override = forms.BooleanField(
        required=False,
        label="Override the gate",
        help_text="Promote although the gate does not pass. Recorded in the audit trail.",
    )


class RollbackForm(RolloutChangeForm):
    """Rolling back is the emergency brake: one click, the reason is optional."""

    reason = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)

    def clean_reason(self) -> str:
        return self.cleaned_data.get("reason") or "Rolled back from the rollout page"


class ApprovalDecisionForm(forms.Form):
    expected_revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why you approve or reject"}),
        error_messages={"required": "Give a reason for your decision."},
    )
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    override = forms.BooleanField(required=False)

"""Forms of the datasets pages: upload with a column mapping, run with a connector."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from evaluations.datasets.connectors import DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES, KINDS
from evaluations.datasets.importers import FIELDS, FORMATS
from evaluations.datasets.scoring import MATCH_MODES
from evaluations.models import Dataset, DatasetItem, DatasetRun, Judge
from rollouts.models import Agent, AgentVersion

CONNECTOR_LABELS = {
    "demo": "Demo agents (in-process)",
    "openai": "OpenAI-compatible chat endpoint",
    "http": "Generic HTTP JSON endpoint",
}
MAPPING_HELP = {
    "id": "id, item_id, id_v2",
    "input": "input, prompt, question, text",
    "expected": "expected, expected_output, answer, reference",
    "category": "category, type",
    "expected_behaviour": "expected_behaviour, label (safe → comply, unsafe → refuse)",
    "tags": "tags",
}


class DatasetUploadForm(forms.Form):
    file = forms.FileField(help_text="JSONL, CSV, JSON (list of objects or of prompts) or TXT.")
    name = forms.CharField(max_length=100, help_text="Same name again = a new version.")
    kind = forms.ChoiceField(choices=Dataset.Kind.choices)
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.order_by("slug"), required=False, empty_label="(any agent)"
    )
    file_format = forms.ChoiceField(
        choices=[("", "auto (from the file name)")] + [(f, f.upper()) for f in FORMATS],
        required=False,
        label="Format",
    )
    default_category = forms.CharField(max_length=64, required=False)
    default_behaviour = forms.ChoiceField(
        choices=[("", "(refuse for red-team files without a label)")]
        + list(DatasetItem.Behaviour.choices),
        required=False,
    )
    required_for_gate = forms.BooleanField(required=False, label="Required by the rollout gate")
    pass_threshold = forms.FloatField(
        min_value=0, max_value=1, required=False, help_text="0–1; the gate's bar for this set."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in FIELDS:
            self.fields[f"map_{field}"] = forms.CharField(
                max_length=100,
                required=False,
                label=field,
                help_text=f"auto: {MAPPING_HELP[field]}",
            )

    def mapping(self) -> dict[str, str]:
        return {
            field: self.cleaned_data[f"map_{field}"].strip()
            for field in FIELDS
            if self.cleaned_data.get(f"map_{field}", "").strip()
        }

    def mapping_fields(self) -> list[forms.BoundField]:
        return [self[f"map_{field}"] for field in FIELDS]


class _VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.agent.slug} · {obj.name}"


class _RunChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"run {obj.id}: {obj.version.name} (set v{obj.dataset.version})"


LIMIT_FIELDS = (
    "concurrency",
    "requests_per_minute",
    "timeout",
    "max_retries",
    "golden_match",
    "rubric_judge",
    "rubric_min",
    "baseline",
)


class RunForm(forms.Form):
    version = _VersionChoiceField(queryset=AgentVersion.objects.none(), empty_label=None)
    connector = forms.ChoiceField(
        choices=[(k, CONNECTOR_LABELS[k]) for k in KINDS], widget=forms.RadioSelect
    )
    base_url = forms.CharField(required=False, label="Base URL", help_text="…/v1")
    model = forms.CharField(required=False)
    system_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    url = forms.CharField(required=False, label="URL")
    request_template = forms.CharField(
        required=False,
        initial='{"input": "{{input}}"}',
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="JSON with {{input}} where the item's input goes.",
    )
    answer_path = forms.CharField(
        required=False, help_text="Where the answer is in the reply, e.g. output or data.text"
    )
    api_key_env = forms.CharField(
        required=False,
        label="API key environment variable",
        help_text="The key stays in the worker's environment, never in the database.",
    )
    concurrency = forms.IntegerField(min_value=1, max_value=16, initial=DEFAULT_CONCURRENCY)
    requests_per_minute = forms.IntegerField(
        min_value=0, required=False, initial=0, help_text="0 = no cap"
    )
    timeout = forms.IntegerField(min_value=1, max_value=600, initial=30, label="Timeout (s)")
    max_retries = forms.IntegerField(
        min_value=0,
        max_value=10,
        initial=DEFAULT_MAX_RETRIES,
        help_text="Failed attempts in a row before the run pauses.",
    )
    golden_match = forms.ChoiceField(
        choices=[(m, m) for m in MATCH_MODES], initial="fuzzy", label="Golden matching"
    )
    rubric_judge = forms.ModelChoiceField(
        queryset=Judge.objects.none(),
        required=False,
        empty_label="(none: offline checks only)",
        help_text="An llm_rubric judge that passing answers must also satisfy.",
    )
    rubric_min = forms.FloatField(min_value=0, max_value=1, initial=0.6, required=False)
    baseline = _RunChoiceField(
        queryset=DatasetRun.objects.none(),
        required=False,
        empty_label="(production's latest finished run)",
    )

    def __init__(
        self,
        *args: Any,
        versions: Any,
        baselines: Any,
        rubric_judges: Any,
        default_connector: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["rubric_judge"]).queryset = rubric_judges
        cast(forms.ModelChoiceField, self.fields["version"]).queryset = versions
        cast(forms.ModelChoiceField, self.fields["baseline"]).queryset = baselines
        self.fields["connector"].initial = default_connector

    def limit_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in LIMIT_FIELDS]

    def connector_errors(self) -> list[str]:
        """Errors of the fields shown outside the limits section, with their labels."""
        return [
            f"{self[name].label}: {error}"
            for name, errors in self.errors.items()
            if name not in LIMIT_FIELDS and name != "__all__"
            for error in errors
        ]

    def connector_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        keys = (
            "base_url",
            "model",
            "system_prompt",
            "url",
            "request_template",
            "answer_path",
            "api_key_env",
            "concurrency",
            "requests_per_minute",
            "timeout",
            "max_retries",
            "golden_match",
            "rubric_min",
        )
        config = {key: data.get(key) for key in keys if data.get(key) not in (None, "")}
        config["kind"] = data["connector"]
        if data.get("rubric_judge") is not None:
            config["rubric_judge_id"] = data["rubric_judge"].pk
        return config


class GateSettingsForm(forms.Form):
    required_for_gate = forms.BooleanField(required=False, label="Required by the rollout gate")
    pass_threshold = forms.FloatField(min_value=0, max_value=1, label="Pass threshold")

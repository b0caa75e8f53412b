"""manage.py dataset_run --dataset N --version v2 --connector demo [--wait | --inline]"""

import time

from django.core.management.base import BaseCommand, CommandError

from evaluations.datasets.connectors import KINDS
from evaluations.datasets.runner import backoff_seconds, run_chunk_execute
from evaluations.datasets.selectors import run_report
from evaluations.datasets.services import DatasetRunError, run_create
from evaluations.models import Dataset, DatasetRun
from rollouts.models import AgentVersion

CONNECTOR_OPTIONS = (
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
    "time_scale",
)


class Command(BaseCommand):
    help = (
        "Run an agent version over a dataset (newest version unless --dataset-version). "
        "Prints the run id as the last line."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        # Our --version is the agent version; it replaces Django's "print Django's version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", required=True, help="Dataset name (or id)")
        parser.add_argument("--dataset-version", type=int)
        parser.add_argument("--version", required=True, help="Agent version name, e.g. v2")
        parser.add_argument("--agent", help="Agent slug; default: the dataset's agent")
        parser.add_argument("--connector", default="demo", choices=KINDS)
        for option in CONNECTOR_OPTIONS:
            parser.add_argument(f"--{option.replace('_', '-')}", dest=option)
        parser.add_argument(
            "--inline", action="store_true", help="Run in this process, no worker needed"
        )
        parser.add_argument("--wait", action="store_true", help="Wait for the worker to finish")

    def handle(self, *args, **options) -> None:
        dataset = self._dataset(options)
        version = self._version(options, dataset)
        connector = {"kind": options["connector"]}
        connector |= {k: options[k] for k in CONNECTOR_OPTIONS if options.get(k) is not None}
        try:
            run = run_create(
                dataset=dataset,
                version=version,
                connector=connector,
                enqueue=not options["inline"],
            )
        except DatasetRunError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"Run {run.id}: {version.name} over {dataset} ({run.total} items)")
        if options["inline"]:
            self._inline(run)
        elif options["wait"]:
            self._wait(run)
        self.stdout.write(str(run.pk))

    def _dataset(self, options) -> Dataset:
        key = options["dataset"]
        datasets = Dataset.objects.filter(name=key)
        if key.isdigit() and not datasets.exists():
            datasets = Dataset.objects.filter(pk=int(key))
        if options["dataset_version"]:
            datasets = datasets.filter(version=options["dataset_version"])
        dataset = datasets.order_by("-version").first()
        if dataset is None:
            raise CommandError(f"no dataset {key!r}")
        return dataset

    def _version(self, options, dataset: Dataset) -> AgentVersion:
        slug = options["agent"] or (dataset.agent.slug if dataset.agent else None)
        versions = AgentVersion.objects.filter(name=options["version"])
        if slug:
            versions = versions.filter(agent__slug=slug)
        matches = list(versions[:2])
        if len(matches) != 1:
            raise CommandError(
                f"{'no' if not matches else 'more than one'} version {options['version']!r}"
                + ("" if slug else "; pass --agent")
            )
        return matches[0]

    def _inline(self, run: DatasetRun) -> None:
        # Each chunk would normally hand over to a task; here the loop is the hand-over.
        while True:
            outcome = run_chunk_execute(run_id=run.id, enqueue=lambda *a, **k: True)
            run.refresh_from_db()
            self.stderr.write(f"  {run.done}/{run.total} {run.status}")
            if outcome in ("finished", "stopped", "paused", "skipped") or not run.is_active:
                break
            if run.consecutive_failures:
                time.sleep(backoff_seconds(failures=run.consecutive_failures))
        self._summary(run)

    def _wait(self, run: DatasetRun) -> None:
        last = -1
        while True:
            run.refresh_from_db()
            if run.done != last:
                self.stderr.write(f"  {run.done}/{run.total} {run.status}")
                last = run.done
            if not run.is_active:
                break
            time.sleep(1)
        self._summary(run)

    def _summary(self, run: DatasetRun) -> None:
        report = run_report(run=run)
        if run.paused_reason:
            self.stderr.write(f"{run.status}: {run.paused_reason}")
        rate = f"{report.pass_rate:.0%}" if report.pass_rate is not None else "–"
        line = f"{run.status}: pass rate {rate} ({report.passed}/{report.n})"
        if report.baseline is not None:
            line += f", {report.regressions_total} regressions vs run {report.baseline.id}"
        self.stderr.write(line)

"""manage.py dataset_import FILE --name N --kind golden|redteam [--map input=prompt,...]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluations.datasets.importers import (
    FORMATS,
    DatasetImportError,
    mapping_parse,
    size_check,
)
from evaluations.datasets.services import dataset_import
from rollouts.models import Agent


class Command(BaseCommand):
    help = (
        "Import a JSONL/CSV/JSON/TXT file as a golden or red-team dataset (a new version when "
        "the name exists). Prints the dataset id as the last line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", required=True, choices=["golden", "redteam"])
        parser.add_argument(
            "--map",
            default="",
            help="Column mapping, e.g. input=prompt,category=type,expected_behaviour=label",
        )
        parser.add_argument("--agent", help="Agent slug the dataset belongs to")
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file name")
        parser.add_argument("--category", default="", help="Category for rows without one")
        parser.add_argument(
            "--behaviour", default="", help="Expected behaviour for rows without one"
        )
        parser.add_argument(
            "--required", action="store_true", help="The rollout gate requires this set"
        )
        parser.add_argument("--threshold", type=float, help="Gate pass threshold, 0–1")

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        agent = None
        if options["agent"]:
            agent = Agent.objects.filter(slug=options["agent"]).first()
            if agent is None:
                raise CommandError(f"no agent {options['agent']!r}")
        try:
            size_check(size=path.stat().st_size)
            dataset = dataset_import(
                data=path.read_bytes(),
                filename=path.name,
                name=options["name"],
                kind=options["kind"],
                mapping=mapping_parse(text=options["map"]),
                agent=agent,
                required_for_gate=True if options["required"] else None,
                pass_threshold=options["threshold"],
                file_format=options["format"],
                default_category=options["category"],
                default_behaviour=options["behaviour"],
            )
        except DatasetImportError as exc:
            lines = [exc.detail, *(f"  {message}" for message in exc.messages())]
            raise CommandError("\n".join(lines)) from exc
        self.stderr.write(f"Imported {dataset.items.count()} items as {dataset}.")
        self.stdout.write(str(dataset.pk))

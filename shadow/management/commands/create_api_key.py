from django.core.management.base import BaseCommand, CommandError

from rollouts.models import Agent
from shadow.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for one agent; the key is printed once, as the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", required=True, help="Agent slug")
        parser.add_argument("--scopes", default="ingest,routing,read", help="Comma-separated")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, **options) -> None:
        try:
            agent = Agent.objects.get(slug=options["agent"])
        except Agent.DoesNotExist:
            raise CommandError(f"no agent with slug '{options['agent']}'") from None
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            key, token = api_key_create(agent=agent, name=options["name"], scopes=scopes)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Key '{key.name}' for {agent.slug} with scopes {','.join(key.scopes)}:")
        self.stdout.write(token)

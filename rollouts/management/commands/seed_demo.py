from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from rollouts.models import Agent, AgentVersion, Rollout
from rollouts.roles import ROLE_ORDER
from shadow.models import ApiKey
from shadow.services import api_key_create

DEMO_AGENT = "support-bot"


class Command(BaseCommand):
    help = (
        "Create the demo agent support-bot (v1 production, v2 in shadow), one user per role "
        "and an API key, printed as the last line (also written to var/demo_api_key)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--new-key", action="store_true", help="Issue a fresh API key")

    def handle(self, *args, **options) -> None:
        password = settings.DEMO_PASSWORD
        if not password:
            raise CommandError("set DEMO_PASSWORD (the demo users' password) in the environment")
        with transaction.atomic():
            agent, _ = Agent.objects.get_or_create(
                slug=DEMO_AGENT,
                defaults={
                    "name": "Support bot",
                    "description": "Answers account, billing and shipping questions.",
                },
            )
            v1, _ = AgentVersion.objects.get_or_create(
                agent=agent, name="v1", defaults={"notes": "Production prompt"}
            )
            v2, _ = AgentVersion.objects.get_or_create(
                agent=agent, name="v2", defaults={"notes": "Candidate: rewritten billing prompt"}
            )
            rollout, created = Rollout.objects.get_or_create(agent=agent)
            if created or rollout.production_id is None:
                rollout.production, rollout.candidate = v1, v2
                rollout.state = Rollout.State.SHADOWING
                rollout.shadow_percent = 100
                rollout.save()
            for role in ROLE_ORDER:
                user, _ = User.objects.get_or_create(username=role)
                user.set_password(password)
                user.is_staff = role == "operator"
                user.save()
                user.groups.set([Group.objects.get_or_create(name=role)[0]])
            admin, _ = User.objects.get_or_create(username="admin")
            admin.is_staff = admin.is_superuser = True
            admin.set_password(password)
            admin.save()
            self._seed_judges(agent)

        key_file = settings.VAR_DIR / "demo_api_key"
        token = key_file.read_text().strip() if key_file.exists() else ""
        prefix = token.split("_")[1] if token.count("_") >= 2 else ""
        valid = ApiKey.objects.filter(agent=agent, prefix=prefix, revoked_at__isnull=True).exists()
        if options["new_key"] or not valid:
            _, token = api_key_create(
                agent=agent, name="demo", scopes=["ingest", "routing", "read"]
            )
            settings.VAR_DIR.mkdir(exist_ok=True)
            key_file.write_text(token + "\n")
            key_file.chmod(0o600)
        self.stderr.write(
            f"Demo agent '{agent.slug}' ready. Users: operator, reviewer, viewer, admin "
            "(password from DEMO_PASSWORD). API key:"
        )
        self.stdout.write(token)

    def _seed_judges(self, agent: Agent) -> None:
        try:
            from evaluations.judges.defaults import judges_ensure_defaults
        except ImportError:
            return
        judges_ensure_defaults(agent=agent)

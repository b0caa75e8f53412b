"""`manage.py judges status|resume|pause`: judge health and control from the shell."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.models import Judge
from evaluations.selectors import judges_health
from evaluations.services import judge_pause, judge_resume
from rollouts.models import Agent


class Command(BaseCommand):
    help = "Show judge health, or pause / resume judges (resuming queues their waiting scores)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="one line per judge")
        status.add_argument("--agent", help="only this agent's judges (slug)")
        resume = sub.add_parser("resume", help="resume paused judges")
        which = resume.add_mutually_exclusive_group(required=True)
        which.add_argument("--judge", type=int, help="judge id (see `judges status`)")
        which.add_argument("--all", action="store_true", help="every paused judge")
        pause = sub.add_parser("pause", help="pause one judge")
        pause.add_argument("--judge", type=int, required=True)
        pause.add_argument("--reason", default="paused from the command line")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        if action == "status":
            self._status(agent_slug=options.get("agent"))
        elif action == "resume":
            self._resume(judge_id=options.get("judge"), everything=options["all"])
        else:
            judge = self._judge(options["judge"])
            if judge_pause(judge=judge, reason=options["reason"]):
                self.stdout.write(f"paused {judge} ({judge.paused_reason})")
            else:
                self.stdout.write(f"{judge} was already paused: {judge.paused_reason}")

    def _status(self, *, agent_slug: str | None) -> None:
        agent = None
        if agent_slug:
            agent = Agent.objects.filter(slug=agent_slug).first()
            if agent is None:
                raise CommandError(f"no agent {agent_slug!r}")
        rows = judges_health(agent=agent)
        header = (
            f"{'id':>4}  {'judge':<32} {'kind':<16} {'state':<8} {'pending':>7} "
            f"{'running':>7} {'done':>8} {'failed':>6} {'lag':>7} {'calls':>6} "
            f"{'cost today':>16} {'inconsistent':>12}"
        )
        self.stdout.write(header)
        for row in rows:
            state = "paused" if row["paused"] else ("on" if row["enabled"] else "off")
            lag = row["oldest_pending_seconds"]
            budget = row["daily_cost_budget_usd"]
            cost = f"${row['cost_today_usd']:.4f}" + (f"/${budget:.2f}" if budget else "")
            rate = row["position_inconsistency_rate"]
            self.stdout.write(
                f"{row['judge_id']:>4}  {row['agent_slug'] + '/' + row['name']:<32.32} "
                f"{row['kind']:<16} {state:<8} {row['pending']:>7} {row['running']:>7} "
                f"{row['done']:>8} {row['failed']:>6} "
                f"{'-' if lag is None else f'{lag:.0f}s':>7} {row['calls_today']:>6} "
                f"{cost:>16} {'-' if rate is None else f'{rate:.1%}':>12}"
            )
            if row["paused"]:
                until = (
                    f" (until {row['paused_until']:%Y-%m-%d %H:%M} UTC)"
                    if row["paused_until"]
                    else ""
                )
                self.stdout.write(f"      paused: {row['paused_reason']}{until}")

    def _resume(self, *, judge_id: int | None, everything: bool) -> None:
        if everything:
            judges = list(Judge.objects.select_related("agent").exclude(paused_reason=""))
        else:
            judges = [self._judge(judge_id)]
        if not judges:
            self.stdout.write("no paused judges")
        for judge in judges:
            queued = judge_resume(judge=judge)
            self.stdout.write(f"resumed {judge}: {queued} waiting score(s) queued")

    def _judge(self, judge_id: int | None) -> Judge:
        judge = None
        if judge_id is not None:
            judge = Judge.objects.select_related("agent").filter(pk=judge_id).first()
        if judge is None:
            raise CommandError(f"no judge with id {judge_id}")
        return judge

import logging
import os
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shadow.demo.simulator import TrafficRun, TrafficSettings, server_wait

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Command(BaseCommand):
    help = (
        "Drive the demo support agents (v1, v2) through the Python SDK against a running "
        "server: routing, shadow calls, batched recording and user feedback. Runs until "
        "stopped (or --duration seconds); waits for the server and survives its restarts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", default="support-bot")
        parser.add_argument("--rate", type=float, default=5.0, help="requests per second")
        parser.add_argument(
            "--duration", type=float, default=None, help="seconds; default: forever"
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--api-key",
            default=os.environ.get("SHADOWSTAGE_API_KEY", ""),
            help="default: $SHADOWSTAGE_API_KEY, else var/demo_api_key (written by seed_demo)",
        )
        parser.add_argument("--users", type=int, default=500)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--log-every", type=int, default=50, help="one line per N requests")
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="multiplier on the demo agents' simulated latency (0: answer instantly)",
        )
        parser.add_argument("--shadow-timeout", type=float, default=10.0)
        parser.add_argument(
            "--backup-path",
            type=Path,
            default=None,
            help="routing backup file; default: var/sdk/routing-<agent>.json",
        )

    def handle(self, *args, **options) -> None:
        if options["rate"] <= 0:
            raise CommandError("--rate must be positive")
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
        try:
            self._run(options, stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, options: dict, stop: threading.Event) -> None:
        # One line per request from the HTTP client would drown the progress lines.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        api_key = options["api_key"] or self._demo_key(stop)
        if not api_key or not server_wait(base_url=options["base_url"], stop=stop, write=self._say):
            return
        run = TrafficRun(
            settings=TrafficSettings(
                base_url=options["base_url"],
                api_key=api_key,
                agent=options["agent"],
                rate=options["rate"],
                users=options["users"],
                seed=options["seed"],
                log_every=max(1, options["log_every"]),
                time_scale=options["time_scale"],
                shadow_timeout=options["shadow_timeout"],
                backup_path=options["backup_path"]
                or settings.VAR_DIR / "sdk" / f"routing-{options['agent']}.json",
            ),
            stop=stop,
            write=self._say,
        )
        run.run(duration=options["duration"])

    def _demo_key(self, stop: threading.Event) -> str:
        """`make run` seeds the demo first, but be patient if the key is not there yet."""
        path = Path(settings.VAR_DIR) / "demo_api_key"
        told = False
        while not stop.is_set():
            if path.exists() and (key := path.read_text().strip()):
                return key
            if not told:
                self._say(f"traffic: waiting for {path} (run `manage.py seed_demo`) ...")
                told = True
            stop.wait(2.0)
        return ""

    def _say(self, line: str) -> None:
        self.stdout.write(f"{time.strftime('%H:%M:%S')} {line}")
        self.stdout.flush()

"""`manage.py run_local`: everything on one machine with one command (`make run`): migrate, the demo user and
data sets, then the web server, a Celery worker per queue and celery beat, all stopped together by Ctrl-C."""
from __future__ import annotations

import http.client
import os
import shlex
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from kombu.utils.url import maybe_sanitize_url

from apps.local.processes import Program, Supervisor
from apps.local.services import DEMO_USERNAME, DemoSetup, demo_bootstrap

PASSWORD_FILE = "demo-password.txt"          # under RNNSERVICE_HOME
CELERY = [sys.executable, "-m", "celery", "-A", "rnnservice.celery"]
# One machine, one worker per queue: no cluster to gossip with or to sync with at start (both cost seconds).
WORKER = [*CELERY, "worker", "--pool", "solo", "-c", "1", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]


class Command(BaseCommand):
    help = ("Run rnnservice on this machine: apply migrations, make the demo user and demo data sets when "
            "missing, then run the web server, a Celery worker for the default queue and one for the training "
            "queue, and celery beat, until Ctrl-C stops them all. The demo user's password is "
            "RNNSERVICE_DEMO_PASSWORD when set, else a random one kept in RNNSERVICE_HOME/" + PASSWORD_FILE + ".")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="the address the web server listens on")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--grace", type=float, default=15.0, metavar="SECONDS",
                            help="how long the processes get to stop before they are killed (a training "
                                 "job killed so resumes from its last checkpoint at the next start)")
        parser.add_argument("--no-demo", dest="demo", action="store_false",
                            help="neither make the demo user nor import the demo data sets")

    def handle(self, *args: Any, host: str, port: int, grace: float, demo: bool, **options: Any) -> None:
        _check_port(host, port)
        home = Path(settings.RNNSERVICE_HOME)
        applied = _migrate()
        setup = None
        if demo:
            password = os.environ.get("RNNSERVICE_DEMO_PASSWORD") or None
            setup = demo_bootstrap(password_file=home / PASSWORD_FILE, password=password)
        connections.close_all()               # the programs open their own
        url = f"http://{_url_host(host)}:{port}"
        self.banner(home=home, applied=applied, setup=setup, url=url)

        # The production web server (rnnservice/server.py), one worker unless WEB_WORKERS says otherwise.
        web = {"WEB_HOST": host, "WEB_PORT": str(port), "WEB_WORKERS": os.environ.get("WEB_WORKERS") or "1"}
        supervisor = Supervisor(_programs(), cwd=Path(settings.BASE_DIR), out=self.stdout, grace=grace,
                                env={**os.environ, **web, "RNNSERVICE_HOME": str(home), "PYTHONUNBUFFERED": "1"})
        supervisor.start()
        threading.Thread(target=_say_when_ready, args=(supervisor, url), daemon=True).start()
        if supervisor.run() != 0:
            raise CommandError("stopped: a process exited on its own; see its lines above")

    def banner(self, *, home: Path, applied: int, setup: DemoSetup | None, url: str) -> None:
        write = self.stdout.write
        write(self.style.MIGRATE_HEADING(f"rnnservice on this machine; its state is under {home}"))
        migrations = f"{applied} migrations applied" if applied else "up to date"
        write(f"  database   {_database()} ({migrations})")
        write(f"  broker     {_broker(home)}")
        if setup is not None:
            for dataset in setup.datasets:
                state = "imported" if dataset.name in setup.imported else "kept"
                write(f"  data set   {dataset.pk}: {dataset.name} ({dataset.task}), {state}, {dataset.status}")
            if setup.password is None:
                write(f"\nLog in as {DEMO_USERNAME!r}: its password was changed since it was made; set "
                      "RNNSERVICE_DEMO_PASSWORD to choose it again.")
                password = "PASSWORD"
            else:
                source = ("RNNSERVICE_DEMO_PASSWORD" if os.environ.get("RNNSERVICE_DEMO_PASSWORD")
                          else f"kept in {home / PASSWORD_FILE}")
                write(f"\nLog in as {DEMO_USERNAME!r} with the password {setup.password} ({source}):")
                password = shlex.quote(setup.password)
            write(f"  admin      {url}/admin/")
            write(f"  API docs   {url}/api/docs/")
            write(f"  a token    curl -s -X POST {url}/api/auth/token/ -d username={DEMO_USERNAME} "
                  f"-d password={password}")
        write("\nStarting the web server, a worker for the default queue and one for the training queue, and "
              "celery beat. Ctrl-C stops them all.\n")


def _programs() -> list[Program]:
    # Node names stay the same from one start to the next: a worker that starts sends the training jobs still
    # recorded as running on its name back to the queue (they died with its previous run).
    return [
        Program("web", [sys.executable, "-m", "rnnservice.server"]),
        Program("default", [*WORKER, "-Q", "default", "-n", "default@%h"]),
        Program("training", [*WORKER, "-Q", "training", "-n", "training@%h"]),
        Program("beat", [*CELERY, "beat", "--loglevel", "INFO"]),
    ]


def _check_port(host: str, port: int) -> None:
    """Fail before anything starts, rather than with the web server alone exiting later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another port with "
                               "--port (make run PORT=...)") from exc


def _migrate() -> int:
    """Apply the migrations that are missing; return how many there were."""
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    call_command("migrate", interactive=False, verbosity=0)
    return pending


def _database() -> str:
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite {database['NAME']}"
    where = f"{database['HOST'] or 'localhost'}:{database['PORT'] or 'default port'}"
    return f"{connection.display_name} {database['NAME']} on {where}"


def _broker(home: Path) -> str:
    url = maybe_sanitize_url(settings.CELERY_BROKER_URL)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return f"Celery's file-system transport, folders under {home / 'broker'}"
    return url


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _say_when_ready(supervisor: Supervisor, url: str) -> None:
    """One line once the web server answers, so that where to go is not lost among the workers' banners."""
    while supervisor.processes["web"].poll() is None:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
        except urllib.error.HTTPError:
            pass                              # it answers, if not with a 200 (a host not in ALLOWED_HOSTS)
        except (OSError, http.client.HTTPException):      # not listening yet, or cut off while it starts
            time.sleep(0.5)
            continue
        supervisor.say(f"ready: {url}/admin/ and {url}/api/docs/")
        return

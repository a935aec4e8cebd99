"""The local stack in one command — `manage.py run_stack`, what `make run` calls.

Migrates, creates the first admin, starts a local Prefect server (unless PREFECT_API_URL names one), serves the flows
in `flows/`, starts the Celery worker and beat, the Prefect event listener and the web server, then watches them.
Ctrl-C, SIGTERM or SIGHUP (a closed terminal) stops every child it started, all at once; if run_stack itself is
killed outright, each child's guard (`guard.py`) takes it down. If a child dies, everything stops with exit 1. Pid
files under `var/run/` let the next start name processes an earlier run left behind instead of failing on a port.
The first admin's credentials are printed, and kept in `var/first-admin.txt` (mode 0600) until that admin first logs
in, before anything else can fail.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from controlplane.access.bootstrap import FirstAdmin, ensure_first_admin, save_first_admin_credentials
from controlplane.devstack.processes import (
    PREFECT_UI_BASE,
    ManagedProcess,
    PidFiles,
    StackError,
    port_is_free,
    prefect_server_command,
    prefect_server_env,
    stop_all,
    wait_for_prefect,
)

PREFECT_STARTUP_TIMEOUT = 120
WEB_STARTUP_TIMEOUT = 60


class RunStackCommand(BaseCommand):
    help = "Run the local stack: Prefect server (locked), served flows, Celery worker + beat, event listener, web."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address the web server binds (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="web server port (default 8000)")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-flows", action="store_true", help="do not serve the flows in flows/")

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[ManagedProcess] = []
        self.stopping = False
        self.log_dir = Path(settings.VAR_DIR) / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_files = PidFiles(Path(settings.VAR_DIR) / "run")
        self._refuse_if_an_earlier_run_is_alive()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._request_stop)

        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        admin = ensure_first_admin(settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD or None)
        self._show_first_admin(admin)
        prefect_url = urlsplit(settings.PREFECT_API_URL)
        self._check_ports_free(options["host"], options["port"], prefect_url)
        try:
            self._start_everything(options, prefect_url)
            self._print_banner(options, admin)
            exit_code = self._supervise()
        except StackError as exc:
            exit_code = 0 if self.stopping else 1  # a Ctrl-C during start-up is not a failure
            if exit_code:
                self.stderr.write(self.style.ERROR(f"run_stack: {exc}"))
        finally:
            self._stop_all()
        if exit_code:
            sys.exit(exit_code)

    # --- start ---------------------------------------------------------------------------------------------------

    def _refuse_if_an_earlier_run_is_alive(self) -> None:
        alive = self.pid_files.alive()
        if alive:
            listed = ", ".join(f"{name} (pid {pid})" for name, pid in alive)
            # Each guard leads its child's process group; run_stack itself does not lead one.
            targets = " ".join(str(pid) if name == "run_stack" else f"-{pid}" for name, pid in alive)
            raise CommandError(
                f"processes of an earlier run_stack of this checkout are still running: {listed}. "
                f"Stop them with: kill -TERM -- {targets}"
            )
        self.pid_files.clear()
        self.pid_files.write("run_stack", os.getpid())

    def _show_first_admin(self, admin: FirstAdmin) -> None:
        """Print a new admin's password now (before anything can fail) and keep it where only its owner can read it
        until that admin first logs in (`controlplane.access.bootstrap`)."""
        if not admin.created or settings.ADMIN_PASSWORD:  # a password from the environment is the user's own
            return
        path = save_first_admin_credentials(admin)
        self.stdout.write(
            self.style.SUCCESS(
                f"first admin: username {admin.username!r}, password {admin.password!r} "
                f"(also in {path} until its first login)"
            )
        )

    def _check_ports_free(self, host: str, port: int, prefect_url: Any) -> None:
        wanted = [("web server", host, port, "--port 8080")]
        if settings.PREFECT_START_LOCAL_SERVER:
            other = "PREFECT_START_LOCAL_SERVER=true PREFECT_API_URL=http://127.0.0.1:4300/api"
            wanted.append(("Prefect server", prefect_url.hostname, prefect_url.port or 4200, other))
        for what, bind_host, bind_port, advice in wanted:
            if not port_is_free(bind_host, bind_port):
                raise CommandError(
                    f"port {bind_port} on {bind_host} (for the {what}) is already in use by a process that is not "
                    f"part of this checkout's stack. Stop it, or use another port: {advice}"
                )

    def _start_everything(self, options: dict[str, Any], prefect_url: Any) -> None:
        python = sys.executable
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        prefect_home = Path(settings.VAR_DIR) / "prefect"
        # Every client of Prefect (flows, worker, listener, Celery, web) sends the API's credential.
        child_env = {
            "PREFECT_API_URL": settings.PREFECT_API_URL,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_AUTH_STRING": settings.PREFECT_API_AUTH_STRING,
        }
        bind = f"{options['host']}:{options['port']}"

        if settings.PREFECT_START_LOCAL_SERVER:
            host, port = prefect_url.hostname, prefect_url.port or 4200
            server_env = prefect_server_env(
                prefect_home,
                port,
                host,
                auth_string=settings.PREFECT_API_AUTH_STRING,
                ui_api_url=f"http://{bind}{PREFECT_UI_BASE}/api",
            )
            server = self._start("prefect-server", prefect_server_command(host, port), server_env)
            self.stdout.write(f"waiting for the Prefect server at {settings.PREFECT_API_URL} …")
            wait_for_prefect(
                settings.PREFECT_API_URL, PREFECT_STARTUP_TIMEOUT, lambda: server.is_alive() and not self.stopping
            )
        else:
            wait_for_prefect(settings.PREFECT_API_URL, 10)
        self.stdout.write(self.style.SUCCESS(f"Prefect API up at {settings.PREFECT_API_URL}"))

        if not options["no_flows"]:
            self._start("flows", [python, "-m", "flows.serve"], child_env)
        celery = [str(Path(python).with_name("celery")), "-A", "controlplane"]
        self._start("celery-worker", [*celery, "worker", "-l", "INFO", "-c", "2", "-n", "worker@%h"], child_env)
        self._start("celery-beat", [*celery, "beat", "-l", "INFO"], child_env)
        self._start("listener", [python, manage, "listen_prefect_events"], child_env)
        # ASGI (uvicorn): the gateway streams Prefect's answers and proxies the websockets of Prefect's UI.
        uvicorn = str(Path(python).with_name("uvicorn"))
        web_command = [uvicorn, "controlplane.asgi:application", "--host", options["host"], "--port"]
        web_command += [str(options["port"]), "--workers", str(options["web_workers"]), "--no-server-header"]
        web = self._start("web", web_command, child_env)
        self._wait_for_web(f"http://{bind}/admin/login/", web)

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> ManagedProcess:
        child = ManagedProcess(
            name, command, env, log_file=self.log_dir / f"{name}.log", echo=sys.stdout, cwd=Path(settings.BASE_DIR)
        ).start()
        self.children.append(child)
        self.pid_files.write(name, child.pid)
        return child

    def _wait_for_web(self, url: str, web: ManagedProcess) -> None:
        deadline = time.monotonic() + WEB_STARTUP_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            if not web.is_alive():
                raise StackError(f"the web server exited before answering at {url} (see {self.log_dir}/web.log)")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        if not self.stopping:
            raise StackError(f"the web server did not answer at {url} within {WEB_STARTUP_TIMEOUT}s")

    def _print_banner(self, options: dict[str, Any], admin: Any) -> None:
        base = f"http://{options['host']}:{options['port']}"
        lines = [
            "",
            "Control plane is up.",
            f"  admin:       {base}/admin/",
            f"  GraphQL:     {base}/graphql/",
            f"  Prefect UI:  {base}{PREFECT_UI_BASE}/  (behind this login; its API at {base}{PREFECT_UI_BASE}/api)",
            f"  Prefect API: {settings.PREFECT_API_URL}  (locked: PREFECT_API_AUTH_STRING, see the README)",
            f"  logs:        {self.log_dir}/",
        ]
        if admin.created:
            lines.append(f"  first admin: username {admin.username!r}, password {admin.password!r}")
        else:
            lines.append(f"  admin user {admin.username!r} exists (reset: manage.py changepassword {admin.username})")
        lines.append("Press Ctrl-C to stop everything.\n")
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))

    # --- run and stop --------------------------------------------------------------------------------------------

    def _supervise(self) -> int:
        while not self.stopping:
            for child in self.children:
                if not child.is_alive():
                    code = child.process.returncode if child.process else None
                    self.stderr.write(
                        self.style.ERROR(
                            f"run_stack: {child.name} exited with code {code} (see {self.log_dir}/{child.name}.log); "
                            "stopping everything"
                        )
                    )
                    return 1
            time.sleep(0.5)
        return 0

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        running = [child for child in self.children if child.is_alive()]
        if running:
            self.stdout.write("stopping " + ", ".join(f"{child.name} (pid {child.pid})" for child in running) + " …")
        stop_all(self.children)
        self.pid_files.clear()
        if self.children:
            self.stdout.write("all stopped.")

"""`python -m local.twin up|down|status|env|run -- CMD`: see the package's docstring."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from local.twin.compose import ROOT, ensure_env_files
from local.twin.processes import TwinError
from local.twin.stack import Ports, Stack


def up_message(stack: Stack) -> str:
    cert = stack.nginx.cert_dir / "fullchain.pem"
    return f"""
The local twin is up (logs in {stack.state_dir}):
  web page   {stack.https_url}/   (self-signed certificate: {cert})
  API docs   {stack.https_url}/docs
  try        curl --cacert {cert} \\
                  -H 'Content-Type: application/json' \\
                  -d '{{"age": 30, "salary": 87000}}' {stack.https_url}/predict
  stop with  make local-down"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.twin",
                                     description="The local twin of docker-compose.yml")
    parser.add_argument("command",
                        choices=["up", "down", "status", "env", "run", "backup", "restore"])
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    parser.add_argument("--scale-api", type=int, default=1, metavar="N",
                        help="api instances behind nginx (compose: --scale api=N)")
    parser.add_argument("args", nargs="*",
                        help="with run: -- and a command, run with the migrate service's "
                             "environment (the owner's credentials); with restore: the dump")
    args = parser.parse_args(argv)
    if args.command == "env":  # the env files compose needs, with generated secrets
        ensure_env_files(ROOT)
        return 0
    stack = Stack(args.state_dir, ROOT, Ports.from_env(), api_replicas=args.scale_api)
    try:
        if args.command == "up":
            stack.up()
            print(up_message(stack))
        elif args.command == "run":
            # e.g. `run -- python -m app evaluate`: an operator command against the twin.
            return stack.migrate.operator(*args.args).returncode
        elif args.command == "backup":
            print(f"wrote {backup(stack)}")
        elif args.command == "restore":
            # Into an empty database: `make local-down`, remove .local/pgdata, then this (only
            # PostgreSQL starts: migrate would create tables of its own), then `make local`.
            if len(args.args) != 1:
                raise TwinError("restore needs one dump file: make local-restore FILE=...")
            stack.postgres.start()
            stack.postgres.restore(Path(args.args[0]).resolve())
            print(f"restored {args.args[0]}; start the rest with make local")
        elif args.command == "down":
            stack.down()
            print("the local twin is stopped")
        else:
            print(f"{'db':9} {status(stack.postgres.pid())}")
            for replica in stack.api.recorded_replicas() or [1]:
                print(f"{'api-' + str(replica):9} {status(stack.api.pid(replica))}")
            print(f"{'nginx':9} {status(stack.nginx.pid())}")
    except TwinError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def backup(stack: Stack) -> Path:
    """backups/social-ads-<UTC time>.dump, as `make backup` names compose's."""
    stack.postgres.start()  # a no-op while the twin runs
    return stack.postgres.backup(ROOT / "backups")


def status(pid: int | None) -> str:
    return f"running, pid {pid}" if pid else "stopped"


if __name__ == "__main__":
    raise SystemExit(main())

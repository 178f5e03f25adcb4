"""`python -m tests.lab up|down|status|ssh|stop|start|reboot`: the lab for people and make.

Exit codes: 0 done; 1 the operation failed (one line on stderr says why);
2 bad usage. `ssh` exits with the remote command's status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tests.lab.config import HOSTS, LabError
from tests.lab.lab import Lab

EPILOG = """\
GOALGPT_LAB_ID=N (0..9, default 0) selects an independent lab: its own bridge,
subnet 10.213.(7+N).0/24, machines and state, so labs run side by side.
Exit codes: 0 done, 1 failed (one-line reason on stderr), 2 bad usage;
`ssh` exits with the remote command's status."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab",
        description="Seven real systemd hosts (systemd-nspawn) on this box, for Ansible.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="boot every host and write build/lab/inventory.yml")
    commands.add_parser("down", help="remove every trace of the lab, also of a killed run")
    status = commands.add_parser("status", help="each host's address and systemd state")
    status.add_argument("--json", action="store_true", help="print JSON")
    ssh = commands.add_parser("ssh", help="SSH to HOST as deploy, or run CMD there")
    ssh.add_argument("host", choices=HOSTS, metavar="HOST")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD")
    for name, text in (
        ("stop", "power HOST off (stays off until start)"),
        ("start", "boot HOST and wait until it runs"),
        ("reboot", "reboot HOST and wait until it runs again"),
    ):
        commands.add_parser(name, help=text).add_argument("host", choices=HOSTS, metavar="HOST")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        lab = Lab()
        if args.command == "ssh":
            return _ssh(lab, args.host, args.cmd)
        if args.command == "status":
            return _status(lab, args.json)
        action = getattr(lab, args.command)
        action(*([args.host] if hasattr(args, "host") else []))
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted (run 'make lab-down' to clean up)", file=sys.stderr)
        return 1
    return 0


def _ssh(lab: Lab, host: str, cmd: list[str]) -> int:
    from tests.lab.inventory import ssh_argv

    if not lab.config.key_path.exists():
        raise LabError(f"lab {lab.config.lab_id} is not up: run 'make lab-up'")
    argv = ssh_argv(lab.config, host)
    if not cmd:
        argv.insert(1, "-t")
    os.execvp(argv[0], [*argv, *cmd])
    return 1  # not reached


def _status(lab: Lab, as_json: bool) -> int:
    report = lab.status()
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for name, host in report.items():
            print(f"{name:<10} {host['group']:<11} {host['address']:<14} {host['state']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

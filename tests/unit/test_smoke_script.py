"""scripts/smoke.py takes the API token from the environment, never from its command line:
a command line is readable by every user of the host (ps, /proc/PID/cmdline), and a
generated token that begins with "-" is taken by argparse for an option."""

import pytest

from scripts.smoke import parse_args, target_of
from tests.support.paths import ROOT

ARGS = ["check", "--record", "/tmp/smoke.json"]


@pytest.mark.parametrize("token", ["-starts-with-a-dash", "plain_token-123", "--x"])
def test_the_token_comes_from_api_token(token: str) -> None:
    assert target_of(parse_args(ARGS), {"API_TOKEN": token}).token == token


def test_no_token_sends_no_authorization() -> None:
    assert target_of(parse_args(ARGS), {}).token is None
    assert target_of(parse_args(ARGS), {"API_TOKEN": ""}).token is None


def test_there_is_no_token_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args([*ARGS, "--token=secret"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_no_caller_puts_the_token_on_a_command_line() -> None:
    """The workflow, the engine tier and the fault and e2e tiers pass API_TOKEN instead."""
    callers = [ROOT / ".github" / "workflows" / "compose.yml",
               *(ROOT / "tests").rglob("*.py")]
    offenders = [path.relative_to(ROOT) for path in callers
                 if path.name != "test_smoke_script.py" and "--token" in path.read_text()]
    assert not offenders

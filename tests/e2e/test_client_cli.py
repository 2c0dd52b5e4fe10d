"""The client commands (`agenthub login`, `submit`, `watch`, `requests`, ...) against the local cloud,
run as a person runs them: a process each, signed in through the hosted sign-in with PKCE, the
browser played by this test (it fills in the sign-in form the CLI's URL leads to)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from agenthub.local.tokens import user_password
from tests.e2e.conftest import Hub

AGENTHUB = [sys.executable, "-m", "agenthub.cli"]
DATASET = Path(__file__).resolve().parents[2] / "events/customization/sft_dataset.jsonl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cli:
    def __init__(self, hub: Hub, config_dir: Path) -> None:
        self.hub = hub
        self.config_dir = config_dir
        self.env = {
            **{name: value for name, value in os.environ.items() if name != "AGENTHUB_STACK"},
            "AGENTHUB_STATE_DIR": str(hub.state_dir),
            "AGENTHUB_CONFIG_DIR": str(config_dir),
            "COLUMNS": "200",
        }

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **({"AGENTHUB_STATE_DIR": str(state_dir)} if state_dir else {}), **(env or {})}
        return subprocess.run(
            [*AGENTHUB, *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )  # type: ignore[call-overload, no-any-return]

    def json(self, *args: str, stdin: str | None = None) -> Any:
        result = self.run(*args, "--local", "--json", stdin=stdin)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    @property
    def cache(self) -> Path:
        return self.config_dir / "logins.json"


def browser_signs_in(url: str, username: str, password: str) -> requests.Response:
    """What a person does with the URL: the hosted sign-in page, the form, the redirect followed."""
    page = requests.get(url, timeout=30)
    assert page.status_code == 200
    assert 'action="/login"' in page.text
    fields = {name: values[-1] for name, values in parse_qs(urlparse(url).query).items()}
    login_url = url.split("/oauth2/authorize", 1)[0] + "/login"
    return requests.post(login_url, data={**fields, "username": username, "password": password}, timeout=30)


def allow_callback(hub: Hub) -> str:
    """A loopback redirect on a free port, which an administrator first adds to the people's app
    client's callback URLs (as Cognito needs every one listed)."""
    port = free_port()
    callback = f"http://localhost:{port}/callback"
    cognito = hub.aws("cognito-idp")
    pool, client_id = hub.info["user_pool_id"], hub.info["user_pool_client_id"]
    client = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client_id)["UserPoolClient"]
    if callback not in client["CallbackURLs"]:
        settings = {
            name: client[name]
            for name in (
                "ClientName",
                "AllowedOAuthFlows",
                "AllowedOAuthScopes",
                "SupportedIdentityProviders",
            )
        }
        cognito.update_user_pool_client(
            UserPoolId=pool,
            ClientId=client_id,
            CallbackURLs=[*client["CallbackURLs"], callback],
            AllowedOAuthFlowsUserPoolClient=True,
            **settings,
        )
    return callback


def person_login(hub: Hub, cli: Cli, username: str) -> subprocess.CompletedProcess[str]:
    """`agenthub login --local`, signed in by this test playing the browser."""
    callback = allow_callback(hub)
    # The password a developer gets for the local sign-in page (the user is created on first use).
    told = cli.run("local", "token", "--user", username, "--password")
    assert told.returncode == 0, told.stderr
    password = told.stdout.strip()
    assert password == user_password(hub.state_dir, username)
    process = subprocess.Popen(
        [*AGENTHUB, "login", "--local", "--no-browser", "--callback-url", callback],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    url = ""
    while time.monotonic() < deadline and not url:
        line = process.stderr.readline()
        if "/oauth2/authorize?" in line:
            url = line.strip()
        elif not line and process.poll() is not None:
            break
    assert url, "agenthub login printed no sign-in URL"
    signed_in = browser_signs_in(url, username, password)
    stdout, stderr = process.communicate(timeout=60)
    assert signed_in.status_code == 200, signed_in.text
    assert "you can close this tab" in signed_in.text
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def cli(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    runner = Cli(hub, tmp_path_factory.mktemp("agenthub-config"))
    login = person_login(hub, runner, "cli-user")
    assert login.returncode == 0, login.stderr
    assert "logged in to local" in login.stdout
    return runner


def test_login_caches_the_tokens_for_its_owner_only(cli: Cli) -> None:
    logins = json.loads(cli.cache.read_text())

    assert stat.S_IMODE(cli.cache.stat().st_mode) == 0o600
    (login,) = logins.values()
    assert login["kind"] == "person"
    assert login["refresh_token"]
    assert login["expires_at"] > time.time() + 600


def test_submit_and_watch_follows_a_request_to_its_result(cli: Cli) -> None:
    result = cli.run(
        "submit",
        "preprocess",
        "--local",
        "--input",
        "-",
        "--watch",
        stdin=json.dumps({"text": "The command line follows this request to its end."}),
    )

    assert result.returncode == 0, result.stderr
    assert "request.accepted" in result.stdout
    assert "preprocess.completed" in result.stdout
    assert "SUCCEEDED" in result.stdout
    assert "result:" in result.stdout


def test_an_agent_request_shows_its_tool_calls(cli: Cli) -> None:
    result = cli.run(
        "submit",
        "agent",
        "--local",
        "--input",
        "-",
        "--watch",
        stdin=json.dumps({"prompt": "Use the calculator: what is 12 * 60?", "tools": ["calculator"]}),
    )

    assert result.returncode == 0, result.stderr
    assert "tool calculator(" in result.stdout
    assert "SUCCEEDED" in result.stdout


def test_requests_lists_the_callers_own_and_status_reads_one(cli: Cli, hub: Hub) -> None:
    accepted = cli.json("submit", "preprocess", "--input", "-", stdin=json.dumps({"text": "listed"}))
    hub.client("someone-else").submit({"pipeline": "preprocess", "input": {"text": "not yours"}})

    listed = cli.json("requests", "--pipeline", "preprocess")
    table = cli.run("requests", "--local", "--limit", "5")
    status = cli.json("status", accepted["request_id"])

    ids = [item["request_id"] for item in listed["requests"]]
    assert ids[0] == accepted["request_id"]  # newest first
    mine = {
        item["request_id"] for item in hub.client("cli-user").fetch("/v1/requests?limit=100").body["requests"]
    }
    assert set(ids) <= mine
    assert table.returncode == 0
    assert accepted["request_id"] in table.stdout
    assert status["request_id"] == accepted["request_id"]
    assert accepted["links"]["self"].startswith("http://127.0.0.1:")


def test_a_failed_request_ends_watch_with_its_error_and_exit_1(cli: Cli, hub: Hub) -> None:
    hub.fault(operation="Converse", match="cli-watch-fails", error="ValidationException")
    result = cli.run(
        "submit",
        "invoke",
        "--local",
        "--input",
        "-",
        "--watch",
        stdin=json.dumps({"prompt": "cli-watch-fails, please"}),
    )

    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "error:" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_refusal_shows_the_hubs_message_not_a_stack_trace(cli: Cli) -> None:
    result = cli.run("submit", "invoke", "--local", "--input", "-", stdin=json.dumps({"prompt": ""}))

    assert result.returncode == 1
    assert "the hub answered 400: the request is invalid" in result.stderr
    assert "input.prompt" in result.stderr
    assert "Traceback" not in result.stderr


def test_cancel_asks_the_hub_and_the_request_ends_cancelled(cli: Cli, hub: Hub) -> None:
    hub.fault(operation="Converse", match="cli-slow", delay_seconds=5, times=1)
    accepted = cli.json("submit", "agent", "--input", "-", stdin=json.dumps({"prompt": "cli-slow question"}))

    cancelled = cli.run("cancel", accepted["request_id"], "--local")
    watched = cli.run("watch", accepted["request_id"], "--local", "--timeout", "90")

    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancel asked" in cancelled.stdout
    assert watched.returncode == 1
    assert "CANCELLED" in watched.stdout


def test_upload_dataset_uploads_then_reports_on_it(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "no answer"}\nnot json\n')

    good = cli.run("upload-dataset", str(DATASET), "--local")
    bad = cli.run("upload-dataset", str(broken), "--local", "--json")

    assert good.returncode == 0, good.stderr
    assert "valid for sft" in good.stdout
    assert "10 record(s)" in good.stdout
    assert bad.returncode == 1
    report = json.loads(bad.stdout)["report"]
    assert report["valid"] is False
    assert [problem["line"] for problem in report["errors"]][:2] == [1, 2]


def test_tools_lists_the_registered_tools(cli: Cli) -> None:
    listed = cli.json("tools")
    table = cli.run("tools", "--local")

    assert {"calculator", "search_documents"} <= {tool["name"] for tool in listed["tools"]}
    assert "calculator" in table.stdout


def test_an_expired_login_renews_with_its_refresh_token(cli: Cli) -> None:
    logins = json.loads(cli.cache.read_text())
    (name,) = logins
    before = logins[name]["access_token"]
    logins[name]["expires_at"] = time.time() - 1
    cli.cache.write_text(json.dumps(logins))

    result = cli.run("requests", "--local", "--json")

    assert result.returncode == 0, result.stderr
    after = json.loads(cli.cache.read_text())[name]
    assert after["access_token"] != before
    assert after["expires_at"] > time.time() + 600


def test_an_expired_login_that_cannot_renew_says_to_log_in(cli: Cli, tmp_path: Path) -> None:
    logins = json.loads(cli.cache.read_text())
    for login in logins.values():
        login.update(expires_at=time.time() - 1, refresh_token="revoked-or-unknown")
    other = Cli(cli.hub, tmp_path)
    other.cache.write_text(json.dumps(logins))

    result = other.run("requests", "--local")

    assert result.returncode == 1
    assert "has expired and cannot be renewed" in result.stderr
    # This config folder has no last login, so plain commands mean the default stack: the hint says --local.
    assert "run `agenthub login --local`" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_login_no_local_cloud_and_no_network_are_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    never = Cli(cli.hub, tmp_path / "fresh-config")
    not_logged_in = never.run("requests", "--local")
    no_cloud = cli.run("requests", "--local", state_dir=tmp_path / "no-cloud")
    # A local cloud that was there when the user logged in and is gone now.
    gone = tmp_path / "gone"
    gone.mkdir()
    info = {**cli.hub.info, "api_url": f"http://127.0.0.1:{free_port()}/prod"}
    (gone / "local.json").write_text(json.dumps(info))
    logins = json.loads(cli.cache.read_text())
    (login,) = logins.values()
    never.cache.parent.mkdir(parents=True, exist_ok=True)
    never.cache.write_text(json.dumps({f"local {info['api_url']}": login}))
    unreachable = never.run("requests", "--local", state_dir=gone)

    assert not_logged_in.returncode == 1
    assert "not logged in" in not_logged_in.stderr
    assert no_cloud.returncode == 1
    assert "no local cloud is running" in no_cloud.stderr
    assert unreachable.returncode == 1
    assert "cannot reach the hub at http://127.0.0.1:" in unreachable.stderr
    for result in (not_logged_in, no_cloud, unreachable):
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_machine_logs_in_with_client_credentials(hub: Hub, tmp_path: Path) -> None:
    cognito = hub.aws("cognito-idp")
    machine = cognito.describe_user_pool_client(
        UserPoolId=hub.info["user_pool_id"], ClientId=hub.info["outputs"]["MachineClientId"]
    )["UserPoolClient"]
    runner = Cli(hub, tmp_path)

    wrong = runner.run("login", "--local", "--machine", "--client-secret", "not-the-secret")
    right = runner.run("login", "--local", "--machine", "--client-secret", machine["ClientSecret"])
    tools = runner.run("tools", "--local", "--json")

    assert wrong.returncode == 1
    assert "refused the login" in wrong.stderr
    assert right.returncode == 0, right.stderr
    assert "as a machine" in right.stdout
    assert tools.returncode == 0, tools.stderr


# -- hints: every command the CLI suggests works as printed ------------------------------------

HINT = re.compile(r"`(agenthub [^`]+)`")
NOT_REACHED = ("no AWS region", "no stack named", "not logged in", "no local cloud", "Traceback")


def hints_in(*results: subprocess.CompletedProcess[str]) -> list[str]:
    return [hint for result in results for hint in HINT.findall(result.stdout + result.stderr)]


def run_as_printed(
    cli: Cli, hint: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    words = shlex.split(hint)
    assert words[0] == "agenthub", hint
    return cli.run(*words[1:], env=env)


def test_every_hint_runs_as_printed_when_plain_commands_mean_another_hub(cli: Cli, hub: Hub) -> None:
    """With $AGENTHUB_STACK set, plain commands mean a deployed stack: each hint a --local command
    prints carries --local, and reaches the local cloud as printed."""
    elsewhere = {"AGENTHUB_STACK": "a-stack-this-machine-cannot-reach"}
    hub.fault(operation="Converse", match="cli-hints-slow", delay_seconds=5, times=1)
    submitted = cli.run("submit", "agent", "--local", "--input", "-", env=elsewhere,
                        stdin=json.dumps({"prompt": "cli-hints-slow question"}))  # fmt: skip
    request_id = submitted.stdout.split()[1]
    too_soon = cli.run("watch", request_id, "--local", "--timeout", "0", env=elsewhere)
    cancelled = cli.run("cancel", request_id, "--local", env=elsewhere)
    cli.run("submit", "preprocess", "--local", "--input", "-", env=elsewhere, stdin='{"text": "one more"}')
    listed = cli.run("requests", "--local", "--limit", "1", env=elsewhere)

    assert submitted.returncode == 0, submitted.stderr
    assert too_soon.returncode == 1
    hints = hints_in(submitted, too_soon, cancelled, listed)
    assert {hint.split()[1] for hint in hints} == {"watch", "requests"}, hints
    assert len(hints) == 4, hints
    for hint in hints:
        assert hint.endswith(" --local"), hint
        ran = run_as_printed(cli, hint, env=elsewhere)
        assert not any(problem in ran.stderr for problem in NOT_REACHED), (hint, ran.stderr)
        if hint.startswith("agenthub watch"):
            assert ran.returncode == 1  # it was cancelled
            assert f"CANCELLED {request_id}" in ran.stdout
        else:
            assert ran.returncode == 0, ran.stderr
            assert "your requests, newest first" in ran.stdout
            # The next page: a request, and not the one on the first page.
            first_page = re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", listed.stdout)
            next_page = re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", ran.stdout)
            assert next_page, ran.stdout
            assert not set(next_page) & set(first_page), ran.stdout


def test_after_logging_in_plain_commands_and_their_hints_use_that_hub(cli: Cli) -> None:
    """The cli fixture logged in with --local: plain commands reach the local cloud, and the hints
    they print need no flag."""
    submitted = cli.run("submit", "preprocess", "--input", "-", stdin=json.dumps({"text": "no flags"}))

    assert submitted.returncode == 0, submitted.stderr
    (hint,) = hints_in(submitted)
    assert hint.startswith("agenthub watch ")
    assert "--" not in hint
    watched = run_as_printed(cli, hint)
    assert watched.returncode == 0, watched.stderr
    assert "SUCCEEDED" in watched.stdout


BROWSER = """
import os, sys
from urllib.parse import parse_qs, urlparse
import requests
url = sys.argv[1]
fields = {name: values[-1] for name, values in parse_qs(urlparse(url).query).items()}
assert requests.get(url, timeout=30).status_code == 200
signed_in = requests.post(
    url.split("/oauth2/authorize", 1)[0] + "/login",
    data={**fields, "username": os.environ["SIGN_IN_AS"], "password": os.environ["SIGN_IN_PASSWORD"]},
    timeout=30,
)
sys.exit(0 if signed_in.status_code == 200 else 1)
"""


def test_the_login_hint_of_a_command_that_is_not_logged_in_runs_as_printed(
    cli: Cli, hub: Hub, tmp_path: Path
) -> None:
    """The hint is `agenthub login --local`, run as printed; the person signs in in a browser
    (played here by $BROWSER), on the callback URL $AGENTHUB_CALLBACK_URL names."""
    fresh = Cli(hub, tmp_path / "config")
    script = tmp_path / "browser.py"
    script.write_text(BROWSER)
    password = fresh.run("local", "token", "--user", "hinted", "--password").stdout.strip()
    browser = {
        "BROWSER": f"{sys.executable} {script} %s",
        "AGENTHUB_CALLBACK_URL": allow_callback(hub),
        "SIGN_IN_AS": "hinted",
        "SIGN_IN_PASSWORD": password,
    }

    refused = fresh.run("requests", "--local")
    (hint,) = hints_in(refused)
    logged_in = run_as_printed(fresh, hint, env=browser)
    plain_command = fresh.run("requests")

    assert refused.returncode == 1
    assert hint == "agenthub login --local"
    assert logged_in.returncode == 0, logged_in.stderr
    assert "logged in to local" in logged_in.stdout
    assert plain_command.returncode == 0, plain_command.stderr


# -- signing in a local user without a browser ----------------------------------------------------


@pytest.mark.parametrize("username", ["alice", "o'brien.ü", "ops+ci@example.com"])
def test_login_user_signs_a_local_user_in_without_a_browser(hub: Hub, tmp_path: Path, username: str) -> None:
    runner = Cli(hub, tmp_path)

    logged_in = runner.run("login", "--local", "--user", username)
    plain_command = runner.run("requests", "--json")

    assert logged_in.returncode == 0, logged_in.stderr
    assert f"as a person {username};" in logged_in.stdout
    assert "Sign in at" not in logged_in.stderr  # no browser step
    (login,) = json.loads(runner.cache.read_text()).values()
    assert (login["kind"], login["username"]) == ("person", username)
    assert login["refresh_token"]
    assert plain_command.returncode == 0, plain_command.stderr
    assert json.loads(plain_command.stdout)["requests"] == []  # a caller of their own


def test_login_user_reads_a_password_from_stdin_and_refuses_a_wrong_one(hub: Hub, tmp_path: Path) -> None:
    runner = Cli(hub, tmp_path)
    password = runner.run("local", "token", "--user", "bella", "--password").stdout.strip()

    wrong = runner.run(
        "login", "--local", "--user", "bella", "--password-stdin", stdin="Not-her-password-1\n"
    )
    nothing_cached = not runner.cache.exists()
    right = runner.run("login", "--local", "--user", "bella", "--password-stdin", stdin=password + "\n")

    assert wrong.returncode == 1
    assert "the sign-in as bella failed: incorrect username or password" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert nothing_cached
    assert right.returncode == 0, right.stderr


def test_login_user_is_only_for_a_local_cloud_and_not_for_a_machine(hub: Hub, tmp_path: Path) -> None:
    runner = Cli(hub, tmp_path)

    on_a_stack = runner.run("login", "--stack", "agent-hub", "--user", "carl")
    as_a_machine = runner.run("login", "--local", "--machine", "--user", "carl")
    password_alone = runner.run("login", "--local", "--password-stdin", stdin="x\n")

    assert on_a_stack.returncode == 1
    assert "--user signs in a user of the local cloud (with --local)" in on_a_stack.stderr
    assert as_a_machine.returncode == 1
    assert "--user signs in a person, --machine a machine" in as_a_machine.stderr
    assert password_alone.returncode == 1
    assert "--password-stdin is the password of a --user" in password_alone.stderr
    assert not runner.cache.exists()


def test_an_expired_user_login_says_to_log_in_as_that_user_again_and_that_works(
    hub: Hub, tmp_path: Path
) -> None:
    runner = Cli(hub, tmp_path)
    assert runner.run("login", "--local", "--user", "dora").returncode == 0
    logins = json.loads(runner.cache.read_text())
    for login in logins.values():
        login.update(expires_at=time.time() - 1, refresh_token="revoked-or-unknown")
    runner.cache.write_text(json.dumps(logins))

    expired = runner.run("requests")
    (hint,) = hints_in(expired)
    again = run_as_printed(runner, hint)

    assert hint == "agenthub login --user dora"
    assert again.returncode == 0, again.stderr
    assert runner.run("requests").returncode == 0


# -- what the hub says, printed as it is -----------------------------------------------------------


def test_model_text_in_brackets_and_markup_is_printed_as_it_is(cli: Cli) -> None:
    prompt = "Is [bold]this[/] [/] :smile: \x1b[31m 😀 kept?"

    watched = cli.run(
        "submit", "invoke", "--local", "--input", "-", "--watch", stdin=json.dumps({"prompt": prompt})
    )
    request_id = watched.stdout.split("SUCCEEDED ", 1)[1].split()[0]
    status = cli.run("status", request_id, "--local")

    for result in (watched, status):
        assert result.returncode == 0, result.stderr
        assert "result: [local amazon.nova-lite-v1:0] You sent" in result.stdout
        assert "Is [bold]this[/] [/] :smile: \\x1b[31m 😀 kept?" in result.stdout
        assert "\x1b" not in result.stdout


def test_watch_shows_the_tool_calls_status_shows(cli: Cli) -> None:
    cli.json(
        "submit",
        "preprocess",
        "--input",
        "-",
        stdin=json.dumps({"text": "Field notes. The battery lasts 12 hours."}),
    )
    agent_input = {
        "prompt": "Search my notes for 'battery' and multiply by 60.",
        "tools": ["search_documents", "calculator"],
    }

    watched = cli.run("submit", "agent", "--local", "--input", "-", "--watch", stdin=json.dumps(agent_input))
    request_id = watched.stdout.split("SUCCEEDED ", 1)[1].split()[0]
    status = cli.run("status", request_id, "--local")

    def tool_lines(text: str) -> list[str]:
        return sorted(line.strip() for line in text.splitlines() if re.match(r"\s+turn \d+ tool ", line))

    assert watched.returncode == 0, watched.stderr
    assert tool_lines(watched.stdout) == tool_lines(status.stdout)
    assert [line.split()[3].split("(")[0] for line in tool_lines(status.stdout)] == [
        "search_documents",
        "calculator",
    ]

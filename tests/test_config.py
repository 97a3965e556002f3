"""Tests for simulator.config: loading TOML, the errors it reports, and command-line overrides."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from spotnana_sim.core.config_file import load_settings
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.errors import ProfileNotFound
from spotnana_sim.core.overrides import apply_overrides
from spotnana_sim.core.protocol import CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import (
    DEFAULT_EMAIL_FIELD,
    DEFAULT_TIMEOUT,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ClientConfig,
    ConfigError,
    Settings,
    TokenConfig,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "simulator.toml"
SECRET = "s3cr3t-value-that-must-not-leak"

FULL = f"""
profiles = ["ada@example.com", "grace@example.com"]

[server]
host = "0.0.0.0"
port = 9999
admin_token = "admin-token-value"

[tokens]
lifetime = 600
refresh_lifetime = 7200
algorithm = "ES256"
key_file = "keys/sim.pem"
issuer = "https://sim.example.com"

[errors]
dialect = "rfc6749"

[errors.modeled.profile_not_found]
status = 404
errorCode = "PROFILE_MISSING"

[errors.modeled.user_detail_timeout]
status = 503

[journal]
size = 50

[[clients]]
id = "acme"
secret = "{SECRET}"
grants = ["urn:ietf:params:oauth:grant-type:token-exchange"]
user_detail_url = "https://partner.example.com/v1/user-detail"
email_field = "data.attributes.mail"
timeout = 2.5

[[clients]]
id = "batch"
secret = "batch-secret"

[[faults]]
target = "token-endpoint"
response = {{ status = 503 }}
times = 2
"""


def write(tmp_path: Path, text: str, name: str = "sim.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    return info.value


def client_toml(**fields: str) -> str:
    """One [[clients]] table with a valid id and secret unless overridden; values are raw TOML."""
    values = {"id": '"acme"', "secret": f'"{SECRET}"', **fields}
    return "[[clients]]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


# --- loading valid files -------------------------------------------------------------------


def test_full_file_loads_every_value(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL))

    assert settings.host == "0.0.0.0"
    assert settings.port == 9999
    assert settings.admin_token == "admin-token-value"
    assert settings.profiles == ("ada@example.com", "grace@example.com")
    assert settings.tokens == TokenConfig(
        lifetime=600,
        refresh_lifetime=7200,
        algorithm="ES256",
        key_file=tmp_path / "keys" / "sim.pem",
        issuer="https://sim.example.com",
    )
    assert settings.errors == "rfc6749"
    assert settings.error_overrides == {
        "profile_not_found": {"status": 404, "errorCode": "PROFILE_MISSING"},
        "user_detail_timeout": {"status": 503},
    }
    assert settings.journal_size == 50
    assert settings.clients == (
        ClientConfig(
            client_id="acme",
            client_secret=SECRET,
            grants=frozenset({TOKEN_EXCHANGE_GRANT}),
            user_detail_url="https://partner.example.com/v1/user-detail",
            email_field="data.attributes.mail",
            timeout=2.5,
        ),
        ClientConfig("batch", "batch-secret"),
    )
    assert settings.faults == ({"target": "token-endpoint", "response": {"status": 503}, "times": 2},)
    assert type(settings.faults[0]) is dict  # the faults module gets plain dicts


def test_error_overrides_are_accepted_by_the_error_table(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL))
    table = ErrorTable(settings.error_overrides)
    row = table.row_for(ProfileNotFound("no profile"))
    assert (row.status, row.error_code) == (404, "PROFILE_MISSING")


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")) == Settings()


def test_client_defaults(tmp_path: Path) -> None:
    (client,) = load_settings(write(tmp_path, client_toml())).clients
    assert client.grants == frozenset({TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT})
    assert client.user_detail_url is None
    assert client.email_field == DEFAULT_EMAIL_FIELD == "user.email"
    assert client.timeout == DEFAULT_TIMEOUT


def test_integer_timeout_is_accepted_as_seconds(tmp_path: Path) -> None:
    (client,) = load_settings(write(tmp_path, client_toml(timeout="120"))).clients
    assert client.timeout == 120.0


def test_shipped_example_loads() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.clients, "the example should show at least one [[clients]] table"
    assert settings.profiles
    assert settings.error_overrides
    assert settings.tokens.key_file is not None
    assert not settings.tokens.key_file.is_relative_to(EXAMPLE.parent.parent)  # examples write nothing into the repository


def test_relative_key_file_resolves_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    write(folder, '[tokens]\nkey_file = "sim.pem"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(Path("..") / "conf" / "sim.toml")  # a relative config path, too
    assert settings.tokens.key_file is not None
    assert settings.tokens.key_file.is_absolute()
    assert settings.tokens.key_file.resolve() == (folder / "sim.pem").resolve()


def test_absolute_key_file_is_kept(tmp_path: Path) -> None:
    key = tmp_path / "other" / "k.pem"
    settings = load_settings(write(tmp_path, f'[tokens]\nkey_file = "{key.as_posix()}"\n'))
    assert settings.tokens.key_file == key


# --- ConfigError text ----------------------------------------------------------------------


def test_error_text_is_source_key_problem() -> None:
    error = ConfigError("clients[1].timeout", "must be a positive number of seconds, got 'abc'", "sim.toml")
    assert str(error) == "sim.toml: clients[1].timeout: must be a positive number of seconds, got 'abc'"
    assert (error.key, error.problem, error.source) == ("clients[1].timeout", error.problem, "sim.toml")
    assert str(ConfigError("--port", "must be a whole number")) == "--port: must be a whole number"


def test_config_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ConfigError("server.port", "bad", "sim.toml")))
    assert str(error) == "sim.toml: server.port: bad"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: cannot read the config file")
    assert "No such file" in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    # A folder fails to read on every platform and user, unlike chmod 000 (root reads anyway).
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_bytes(b'[server]\nhost = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[server]\nport = 80\nhost = \n")
    assert error.source is not None and error.source.endswith("sim.toml")
    assert "TOML syntax error" in str(error)
    assert "line 3" in str(error) and "column" in str(error)


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("[server]\nprot = 1\n", "server.prot", "did you mean 'port'?"),
        ("[tokens]\nlifetim = 1\n", "tokens.lifetim", "did you mean 'lifetime'?"),
        ("[jornal]\nsize = 1\n", "jornal", "did you mean 'journal'?"),
        ("[journal]\nsizes = 1\n", "journal.sizes", "did you mean 'size'?"),
        ("[errors]\ndialetc = 'spotnana'\n", "errors.dialetc", "did you mean 'dialect'?"),
        ('[[clients]]\nid = "a"\nsecret = "b"\ntimout = 3\n', "clients[0].timout", "did you mean 'timeout'?"),
        ("[errors.modeled.profile_not_found]\nerror_code = 'X'\n", "errors.modeled.profile_not_found.error_code",
         "did you mean 'errorCode'?"),
    ],
)
def test_unknown_key_is_named_with_suggestion(tmp_path: Path, text: str, key: str, suggestion: str) -> None:
    error = load_error(tmp_path, text)
    assert error.key == key
    assert f"{key}: unknown key" in str(error)
    assert suggestion in str(error)


def test_unknown_key_lists_the_accepted_keys(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[server]\nzzz = 1\n")
    assert "accepted keys in [server]: host, port, admin_token" in str(error)
    error = load_error(tmp_path, client_toml(zzz="1"))
    assert "accepted keys in [[clients]]: id, secret, grants, user_detail_url, email_field, timeout" in str(error)
    error = load_error(tmp_path, "zzz = 1\n")
    assert "accepted keys in the top level: server, tokens, user_detail, rate_limit, errors, journal, profiles, clients, faults" in str(error)


def test_top_level_key_under_a_table_gets_a_hint(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[server]\nport = 8080\nprofiles = ["a@b.c"]\n')
    assert error.key == "server.profiles"
    assert "belongs at the top level" in str(error)


# Each bad value: (TOML, key named, words of the problem that must appear).
BAD_VALUES = [
    ("[server]\nport = -1\n", "server.port", "from 0 to 65535 (0 picks a free port), got -1"),
    ("[server]\nport = 65536\n", "server.port", "from 0 to 65535 (0 picks a free port), got 65536"),
    ("[server]\nport = '8080'\n", "server.port", "got '8080'"),
    ("[server]\nport = true\n", "server.port", "got true"),
    ("[server]\nport = 80.0\n", "server.port", "whole number"),
    ("[server]\nhost = ''\n", "server.host", "host name"),
    ("[server]\nhost = 5\n", "server.host", "got 5"),
    ("server = 5\n", "server", "must be a table"),
    ("[tokens]\nlifetime = 0\n", "tokens.lifetime", "positive whole number of seconds, got 0"),
    ("[tokens]\nlifetime = -5\n", "tokens.lifetime", "got -5"),
    ("[tokens]\nlifetime = 1.5\n", "tokens.lifetime", "whole number"),
    ("[tokens]\nrefresh_lifetime = 0\n", "tokens.refresh_lifetime", "positive"),
    ("[tokens]\nalgorithm = 'HS256'\n", "tokens.algorithm", "one of 'RS256', 'ES256', got 'HS256'"),
    ("[tokens]\nalgorithm = 'rs256'\n", "tokens.algorithm", "got 'rs256'"),
    ("[tokens]\nkey_file = ''\n", "tokens.key_file", "non-empty string"),
    ("[tokens]\nkey_file = 3\n", "tokens.key_file", "got 3"),
    ("[tokens]\nissuer = 'sim.example.com'\n", "tokens.issuer", "http:// or https:// URL"),
    ("[errors]\ndialect = 'oauth'\n", "errors.dialect", "one of 'spotnana', 'rfc6749', got 'oauth'"),
    ("[journal]\nsize = 0\n", "journal.size", "at least 1, got 0"),
    ("[journal]\nsize = 'big'\n", "journal.size", "got 'big'"),
    ("profiles = 'ada@example.com'\n", "profiles", "must be a list of email addresses"),
    ("profiles = ['ada@example.com', 'grace']\n", "profiles[1]", "email address (containing '@'), got 'grace'"),
    ("profiles = ['ada@example.com', 7]\n", "profiles[1]", "got 7"),
    ("profiles = ['@example.com']\n", "profiles[0]", "both sides of '@'"),
    ("[clients]\nid = 'a'\n", "clients", "array of tables ([[clients]])"),
    ("[faults]\nx = 1\n", "faults", "array of tables ([[faults]])"),
    (client_toml(timeout="'abc'"), "clients[0].timeout", "positive number of seconds, got 'abc'"),
    (client_toml(timeout="0"), "clients[0].timeout", "more than 0 and at most 120 seconds, got 0"),
    (client_toml(timeout="-1.5"), "clients[0].timeout", "got -1.5"),
    (client_toml(timeout="120.5"), "clients[0].timeout", "at most 120 seconds, got 120.5"),
    (client_toml(timeout="nan"), "clients[0].timeout", "at most 120 seconds"),
    (client_toml(timeout="inf"), "clients[0].timeout", "at most 120 seconds"),
    (client_toml(timeout="true"), "clients[0].timeout", "got true"),
    (client_toml(grants="['password']"), "clients[0].grants", "unsupported grant type 'password'"),
    (client_toml(grants="[]"), "clients[0].grants", "non-empty list"),
    (client_toml(grants="'client_credentials'"), "clients[0].grants", "non-empty list"),
    (client_toml(email_field="'user..email'"), "clients[0].email_field", "dotted path of non-empty names"),
    (client_toml(email_field="'.email'"), "clients[0].email_field", "got '.email'"),
    (client_toml(email_field="'user.'"), "clients[0].email_field", "got 'user.'"),
    (client_toml(email_field="''"), "clients[0].email_field", "dotted path"),
    (client_toml(email_field="'user. email'"), "clients[0].email_field", "dotted path"),
    (client_toml(email_field="3"), "clients[0].email_field", "got 3"),
    (client_toml(user_detail_url="'ftp://x.example.com/u'"), "clients[0].user_detail_url", "http:// or https://"),
    (client_toml(user_detail_url="'partner.example.com/u'"), "clients[0].user_detail_url", "with a host"),
    (client_toml(user_detail_url="'http:///u'"), "clients[0].user_detail_url", "got 'http:///u'"),
    (client_toml(user_detail_url="'http://x.example.com:99999/u'"), "clients[0].user_detail_url", "URL"),
    (client_toml(id="''"), "clients[0].id", "non-empty string"),
    (client_toml(id="5"), "clients[0].id", "got 5"),
    (client_toml(secret="''"), "clients[0].secret", "non-empty string"),
    ('[[clients]]\nsecret = "x"\n', "clients[0].id", "missing"),
    ('[[clients]]\nid = "x"\n', "clients[0].secret", "missing"),
    ("[errors.modeled.no_such_row]\nstatus = 400\n", "errors.modeled.no_such_row", "unknown error row"),
    ("[errors.modeled.profile_not_foud]\nstatus = 400\n", "errors.modeled.profile_not_foud",
     "did you mean 'profile_not_found'?"),
    ("[errors.modeled.rate_limited]\nstatus = 503\n", "errors.modeled.rate_limited", "documented by Spotnana"),
    ("[errors.modeled.validation]\nerrorCode = 'X'\n", "errors.modeled.validation", "cannot be overridden"),
    ("[errors.modeled.profile_not_found]\nstatus = 200\n", "errors.modeled.profile_not_found.status",
     "from 400 to 599, got 200"),
    ("[errors.modeled.profile_not_found]\nstatus = '404'\n", "errors.modeled.profile_not_found.status",
     "got '404'"),
    ("[errors.modeled.profile_not_found]\nerrorCode = 'not found'\n",
     "errors.modeled.profile_not_found.errorCode", "UPPER_SNAKE_CASE"),
    ("[errors.modeled.profile_not_found]\nerrorCode = 404\n", "errors.modeled.profile_not_found.errorCode",
     "got 404"),
    ("[errors.modeled]\nprofile_not_found = 404\n", "errors.modeled.profile_not_found", "must be a table"),
    ("[errors.modeled.profile_not_found]\n", "errors.modeled.profile_not_found", "empty"),
    ("[errors]\nmodeled = 1\n", "errors.modeled", "must be a table"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD_VALUES, ids=[case[1] + "|" + case[2] for case in BAD_VALUES])
def test_bad_value_names_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    error = load_error(tmp_path, text)
    assert error.key == key
    assert str(error).startswith(f"{tmp_path / 'sim.toml'}: {key}: ")
    assert problem in error.problem
    assert SECRET not in str(error)


def test_duplicate_client_ids(tmp_path: Path) -> None:
    error = load_error(tmp_path, client_toml() + client_toml(secret='"other"'))
    assert str(error).endswith("clients[1].id: duplicate client id 'acme' (also clients[0])")


SECRET_CASES = [
    ("123456789", "got a number"),
    (f'["{SECRET}"]', "got an array"),
    ('"     "', "is empty"),
]


@pytest.mark.parametrize(("value", "problem"), SECRET_CASES)
@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda v: client_toml(secret=v), "clients[0].secret"),
        (lambda v: f"[server]\nadmin_token = {v}\n", "server.admin_token"),
    ],
    ids=["client-secret", "admin-token"],
)
def test_bad_secret_is_never_echoed(tmp_path: Path, make: Any, key: str, value: str, problem: str) -> None:
    # A wrong-typed or blank secret is still somebody's secret: the message names only its kind.
    error = load_error(tmp_path, make(value))
    assert error.key == key
    assert problem in str(error)
    assert SECRET not in str(error)
    assert "123456789" not in str(error)


def test_url_password_is_not_echoed(tmp_path: Path) -> None:
    error = load_error(tmp_path, client_toml(user_detail_url="'ftp://bob:hunter2pass@x.example.com/u'"))
    assert error.key == "clients[0].user_detail_url"
    assert "hunter2pass" not in str(error)
    assert "x.example.com" in str(error)


# --- demo client, repr ---------------------------------------------------------------------


def test_effective_clients_without_clients_is_the_demo_client() -> None:
    settings = Settings()
    assert settings.effective_clients() == (ClientConfig(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),)
    assert (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) == ("demo-client", "demo-secret")
    assert settings.uses_embedded_user_detail()


def test_effective_clients_with_clients_excludes_the_demo_client() -> None:
    acme = ClientConfig("acme", "x", user_detail_url="http://127.0.0.1:9000/v1/user-detail")
    settings = Settings(clients=(acme,))
    assert settings.effective_clients() == (acme,)
    assert not settings.uses_embedded_user_detail()
    mixed = Settings(clients=(acme, ClientConfig("b", "y")))
    assert mixed.uses_embedded_user_detail()


def test_repr_hides_secrets() -> None:
    client = ClientConfig("acme", SECRET, user_detail_url="https://bob:hunter2pass@x.example.com/u")
    settings = Settings(clients=(client,), admin_token="admin-token-that-must-not-leak")
    for text in (repr(client), repr(settings), str(settings)):
        assert SECRET not in text
        assert "hunter2pass" not in text
        assert "admin-token-that-must-not-leak" not in text
        assert "acme" in text
    assert SECRET[-4:] in repr(client)  # at most the last 4 characters, to tell secrets apart
    assert SECRET[-5:] not in repr(client)


# --- command-line overrides ----------------------------------------------------------------


def file_settings(tmp_path: Path) -> Settings:
    return load_settings(write(tmp_path, FULL))


def test_override_host_and_port(tmp_path: Path) -> None:
    settings = apply_overrides(file_settings(tmp_path), host="127.0.0.2", port=1234)
    assert (settings.host, settings.port) == ("127.0.0.2", 1234)
    assert settings.journal_size == 50  # the rest of the file stays


def test_no_overrides_changes_nothing(tmp_path: Path) -> None:
    settings = file_settings(tmp_path)
    assert apply_overrides(settings) == settings
    assert apply_overrides(Settings()).effective_clients() == Settings().effective_clients()


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"port": -1}, "--port: must be a whole number from 0 to 65535 (0 picks a free port), got -1"),
        ({"port": 70000}, "--port: must be a whole number from 0 to 65535 (0 picks a free port), got 70000"),
        ({"host": ""}, "--host: must be a host name"),
        ({"errors": "xml"}, "--errors: must be one of 'spotnana', 'rfc6749', got 'xml'"),
        ({"user_detail_url": "localhost:9000"}, "--user-detail-url: must be an http:// or https:// URL"),
        ({"email_field": "a..b"}, "--email-field: must be a dotted path"),
        ({"profiles": ["ada@example.com", "nobody"]}, "--profile: must be an email address"),
        ({"admin_token": ""}, "--admin-token: must be a non-empty string"),
    ],
)
def test_bad_override_names_the_flag(kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(Settings(), **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(text)
    assert info.value.source is None


def test_override_errors_and_admin_token() -> None:
    settings = apply_overrides(Settings(), errors="rfc6749", admin_token="tok")
    assert (settings.errors, settings.admin_token) == ("rfc6749", "tok")


def test_flag_client_replaces_same_id_and_adds_new(tmp_path: Path) -> None:
    settings = apply_overrides(file_settings(tmp_path), clients=["acme:new:secret:with:colons", "extra:xs"])
    acme, batch, extra = settings.clients
    # Same id: the secret is replaced (split on the first colon), the file's other settings stay.
    assert acme.client_id == "acme"
    assert acme.client_secret == "new:secret:with:colons"
    assert acme.user_detail_url == "https://partner.example.com/v1/user-detail"
    assert acme.email_field == "data.attributes.mail"
    assert acme.grants == frozenset({TOKEN_EXCHANGE_GRANT})
    assert batch == ClientConfig("batch", "batch-secret")
    assert extra == ClientConfig("extra", "xs")


def test_flag_clients_replace_the_demo_client() -> None:
    settings = apply_overrides(Settings(), clients=["ci:pw"])
    assert settings.effective_clients() == (ClientConfig("ci", "pw"),)


@pytest.mark.parametrize(
    ("flag", "problem"),
    [
        (f"acme{SECRET}", "no ':' found"),
        (f":{SECRET}", "non-empty ID"),
        ("acme:", "non-empty SECRET (client 'acme')"),
        (f"  :{SECRET}", "non-empty ID"),
    ],
)
def test_malformed_client_flag(flag: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(Settings(), clients=[flag])
    assert info.value.key == "--client"
    assert str(info.value).startswith("--client: must be ID:SECRET")
    assert problem in str(info.value)
    assert SECRET not in str(info.value)


def test_client_flag_given_twice() -> None:
    with pytest.raises(ConfigError, match="--client: client id 'ci' given twice"):
        apply_overrides(Settings(), clients=["ci:a", "ci:b"])


def test_user_detail_url_and_email_field_apply_to_every_client(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9100/v1/user-detail"
    settings = apply_overrides(
        file_settings(tmp_path), clients=["extra:xs"], user_detail_url=url, email_field="profile.mail"
    )
    assert [c.client_id for c in settings.effective_clients()] == ["acme", "batch", "extra"]
    for client in settings.effective_clients():
        assert client.user_detail_url == url
        assert client.email_field == "profile.mail"
    assert not settings.uses_embedded_user_detail()
    assert settings.clients[0].timeout == 2.5  # untouched settings stay


def test_user_detail_url_reaches_the_demo_client() -> None:
    url = "http://127.0.0.1:9100/v1/user-detail"
    settings = apply_overrides(Settings(), user_detail_url=url)
    (demo,) = settings.effective_clients()
    assert (demo.client_id, demo.client_secret, demo.user_detail_url) == (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, url)
    assert not settings.uses_embedded_user_detail()


def test_email_field_alone_keeps_urls(tmp_path: Path) -> None:
    settings = apply_overrides(file_settings(tmp_path), email_field="mail")
    assert settings.clients[0].user_detail_url == "https://partner.example.com/v1/user-detail"
    assert settings.clients[1].user_detail_url is None
    assert all(c.email_field == "mail" for c in settings.clients)


def test_profiles_on_the_command_line_replace_the_file(tmp_path: Path) -> None:
    settings = apply_overrides(file_settings(tmp_path), profiles=["zed@example.com"])
    assert settings.profiles == ("zed@example.com",)
    assert apply_overrides(file_settings(tmp_path)).profiles == ("ada@example.com", "grace@example.com")
    assert apply_overrides(Settings(), profiles=["a@b.c"]).profiles == ("a@b.c",)


def test_a_bad_fault_rule_names_the_file_and_the_path(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text('[[faults]]\ntarget = "token-endpoint"\ntimes = "sometimes"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: faults[0].times: ")


def test_user_detail_policy_defaults_and_values(tmp_path: Path) -> None:
    from spotnana_sim.core.settings import UserDetailPolicy

    assert load_settings(write(tmp_path, "")).user_detail == UserDetailPolicy()
    path = write(tmp_path, '[user_detail]\nmax_body_bytes = 4096\nrejecting_statuses = [401, 403, 404]\nemail_match = "exact"\n')
    policy = load_settings(path).user_detail
    assert (policy.max_body_bytes, policy.rejecting_statuses, policy.email_match) == (4096, frozenset({401, 403, 404}), "exact")


@pytest.mark.parametrize("text, key, problem", [
    ("[user_detail]\nmax_body_bytes = 10\n", "user_detail.max_body_bytes", "from 1024 to 16777216"),
    ("[user_detail]\nrejecting_statuses = [200]\n", "user_detail.rejecting_statuses", "4xx statuses"),
    ("[user_detail]\nrejecting_statuses = []\n", "user_detail.rejecting_statuses", "non-empty"),
    ("[user_detail]\nemail_match = 'loose'\n", "user_detail.email_match", '"case-insensitive" or "exact"'),
    ("[user_detail]\ntimeout = 3\n", "user_detail.timeout", "accepted keys in [user_detail]"),
    ("[rate_limit]\nrequests = 10\n", "rate_limit.per_seconds", "required"),
    ("[rate_limit]\nrequests = 0\nper_seconds = 1\n", "rate_limit.requests", "at least 1"),
    ("[rate_limit]\nrequests = 5\nper_seconds = -1\n", "rate_limit.per_seconds", "more than 0"),
])
def test_bad_modeled_settings_name_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert f": {key}: " in str(caught.value) and problem in str(caught.value)


def test_rate_limit_is_off_unless_configured(tmp_path: Path) -> None:
    from spotnana_sim.core.settings import RateLimitConfig

    assert load_settings(write(tmp_path, "")).rate_limit is None
    limited = load_settings(write(tmp_path, "[rate_limit]\nrequests = 10\nper_seconds = 1\n")).rate_limit
    assert limited == RateLimitConfig(requests=10, per_seconds=1.0)



def test_safety_settings_load_from_the_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, (
        '[server]\nadmin_hosts = ["Sim.Internal"]\nforwarded_allow_ips = "10.0.0.1"\n'
        '[user_detail]\nverify_tls = false\nconnection_limit = 7\n'
    )))
    assert settings.admin_hosts == ("sim.internal",) and settings.forwarded_allow_ips == "10.0.0.1"
    assert settings.user_detail.verify_tls is False and settings.user_detail.connection_limit == 7
    assert Settings().user_detail.verify_tls is True and Settings().forwarded_allow_ips is None


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x", "file:///etc/passwd", "ftp://partner/x",
])
def test_user_detail_urls_are_http_or_https_and_never_link_local(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, f'[[clients]]\nid = "a"\nsecret = "s"\nuser_detail_url = "{url}"\n'))
    assert caught.value.key == "clients[0].user_detail_url"
    with pytest.raises(ConfigError, match="--user-detail-url"):
        apply_overrides(Settings(), user_detail_url=url)


@pytest.mark.parametrize(("text", "key"), [
    ('[server]\nadmin_hosts = "sim"\n', "server.admin_hosts"),
    ('[user_detail]\nverify_tls = "no"\n', "user_detail.verify_tls"),
    ('[user_detail]\nconnection_limit = 0\n', "user_detail.connection_limit"),
    ('[[clients]]\nid = "a"\nsecret = "s"\nca_file = ""\n', "clients[0].ca_file"),
])
def test_bad_safety_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert caught.value.key == key

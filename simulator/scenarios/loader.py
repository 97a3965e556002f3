"""Scenario files: loading and checking them, and building the model (``scenarios.model``).

Loading checks a file twice: against the JSON Schema (shape), then semantically (placeholders,
config values through the config module's own checks, fault rules through the faults engine,
dialect-consistent expectations). Every problem names the file, the path inside it
(``steps[2].expect.status``) and what is wrong.

This module does no I/O beyond reading files and no HTTP: ``replay`` sends requests and ``judge``
judges what came back.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from spotnana_sim.core.config_file import client_from_table, settings_from_document
from spotnana_sim.core.errors import RFC6749
from spotnana_sim.core.protocol import FORM_CONTENT_TYPE, TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import ConfigError, Settings
from spotnana_sim.core.validators import did_you_mean
from spotnana_sim.harness.faults import FaultBook, FaultRuleError
from spotnana_sim.scenarios.model import (
    CONNECTION_BROKEN,
    JSON_CONTENT_TYPE,
    Expectation,
    RequestSpec,
    Scenario,
    Step,
    UserDetailExpectation,
)
from spotnana_sim.scenarios.placeholders import (
    placeholder_problems,
    placeholders_used,
    sample_values,
    substitute_all,
)

SCHEMA_FILE = "scenario.schema.json"


# ---------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    path: str  # inside the file, e.g. "steps[2].expect.status"; "" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ScenarioError(Exception):
    """A scenario file that cannot be used. ``str()`` gives one line per problem, each naming the file."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        super().__init__(source, tuple(problems))
        self.source = source
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {problem}" for problem in self.problems)


# ------------------------------------------------------------------------------------------ loading


def shipped_scenarios_dir() -> Path:
    """The shipped library: ``scenarios/`` beside the package in a checkout (and an editable install),
    else the copy packaged as ``spotnana_sim.scenarios.library`` in a wheel."""
    checkout = Path(__file__).resolve().parents[2] / "scenarios"
    if (checkout / SCHEMA_FILE).is_file():
        return checkout
    try:
        spec = importlib.util.find_spec("spotnana_sim.scenarios.library")
    except ModuleNotFoundError:
        spec = None
    # The folder is a data-only (namespace) package in the wheel: take its directory, not a module.
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / SCHEMA_FILE).is_file():
            return Path(location)
    raise FileNotFoundError(f"the shipped scenarios were not found (looked in {checkout} and spotnana_sim.scenarios.library)")


def schema_path() -> Path:
    """The JSON Schema ships beside the scenarios it describes."""
    return shipped_scenarios_dir() / SCHEMA_FILE


_validator: jsonschema.protocols.Validator | None = None


def _schema_validator() -> jsonschema.protocols.Validator:
    global _validator
    if _validator is None:
        schema = json.loads(schema_path().read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        _validator = jsonschema.Draft202012Validator(schema)
    return _validator


def load_scenario(path: Path) -> Scenario:
    """Read, check and build one scenario file; raises :class:`ScenarioError` naming every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [Problem("", f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")]) from None
    return parse_scenario(text, source)


def parse_scenario(text: str, source: str) -> Scenario:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [Problem("", f"YAML syntax error{where}: {problem}")]) from None
    problems = schema_problems(document)
    # Values are checked too wherever the shape allows, so one run shows every problem of the file.
    problems += semantic_problems(document, blamed=[p.path for p in problems])
    if problems:
        raise ScenarioError(source, problems)
    return _build(document, source)


def load_scenarios(paths: Iterable[Path]) -> tuple[list[Scenario], list[ScenarioError]]:
    """Every scenario under ``paths`` (files, or folders searched for *.yaml/*.yml), and the broken ones."""
    loaded: list[Scenario] = []
    broken: list[ScenarioError] = []
    for file in scenario_files(paths):
        try:
            loaded.append(load_scenario(file))
        except ScenarioError as exc:
            broken.append(exc)
    scenarios: list[Scenario] = []
    by_name: dict[str, list[Scenario]] = {}
    for scenario in loaded:
        by_name.setdefault(scenario.name, []).append(scenario)
    for scenario in loaded:
        owner = _name_owner(by_name[scenario.name])
        if scenario is owner:
            scenarios.append(scenario)
        else:
            broken.append(ScenarioError(scenario.file, [Problem("name", (
                f"{scenario.name!r} is already the name of {owner.file}; give this scenario a name of its own, "
                f"e.g. {_scenario_name_from(scenario.file)!r}"))]))
    return scenarios, broken


def _name_owner(sharing: Sequence[Scenario]) -> Scenario:
    """Of the scenarios sharing a name, the one that keeps it: the one whose file is called so, else the first.
    The others are the duplicates (a file copied and renamed, its name left as it was)."""
    return next((s for s in sharing if Path(s.file).stem == s.name), sharing[0])


def _scenario_name_from(file: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "_", Path(file).stem.lower()).strip("_.-")
    return name or "scenario"


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    return files


def _json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_problems(document: Any) -> list[Problem]:
    problems: list[Problem] = []
    for error in sorted(_schema_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        if error.context:
            # oneOf/anyOf: the alternative that got furthest explains the problem best.
            error = jsonschema.exceptions.best_match(error.context)
        problems.append(Problem(_json_path(error.absolute_path), _explain(error)))
    return problems


def _explain(error: jsonschema.exceptions.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        accepted = sorted(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in accepted]
        hints = [f"{name!r}{did_you_mean(str(name), accepted)}" for name in extra]
        return f"unknown key {', '.join(hints)}; accepted keys: {', '.join(accepted)}"
    if error.validator == "required":
        return f"{error.message}"
    message = str(error.message)
    if len(message) > 200:
        message = message[:200] + "…"
    if schema.get("description") and error.validator in ("type", "enum", "pattern", "minimum", "maximum", "const"):
        message += f" (expected: {schema['description']})"
    return message + _quote_hint(error)


def _quote_hint(error: jsonschema.exceptions.ValidationError) -> str:
    """YAML reads ``name: 503`` as a number and ``name: yes`` as a boolean: say how to keep it text."""
    expected = error.validator_value if error.validator == "type" else None
    wants_text = expected == "string" or (isinstance(expected, list) and "string" in expected)
    value = error.instance
    if not wants_text or not isinstance(value, (int, float, bool)):
        return ""
    key = next((str(part) for part in reversed(list(error.absolute_path)) if isinstance(part, str)), "the value")
    if isinstance(value, bool):
        return f"; YAML read it as a boolean: to keep it text, put it in quotes, e.g. {key}: \"{'true' if value else 'false'}\""
    return f"; YAML read it as a number: to keep it text, put it in quotes: {key}: \"{value}\""


def _overlaps(path: str, blamed: Sequence[str]) -> bool:
    """Whether a schema problem was found at ``path``, inside it or around it (then its values are not checked)."""
    for other in blamed:
        if not other:
            continue  # a problem with the file as a whole (a missing or unknown top-level key) leaves the parts readable
        inner, outer = (other, path) if len(other) >= len(path) else (path, other)
        if inner == outer or inner.startswith((outer + ".", outer + "[")):
            return True
    return False


def semantic_problems(document: Any, blamed: Sequence[str] = ()) -> list[Problem]:
    """What the schema cannot say: placeholders, config values, dialect-consistent expectations.

    ``blamed`` are paths where the schema found problems: the values there are not checked again
    (their shape is wrong), every other part is, so one run reports every problem.
    """
    if not isinstance(document, Mapping):
        return []
    problems = [Problem(path, problem) for path, problem in placeholder_problems(document)]
    samples = sample_values(placeholders_used(document))
    config = document.get("config") or {}
    config_ok = isinstance(config, Mapping) and not _overlaps("config", blamed)
    if config_ok:
        try:
            settings_for(substitute_all(config, samples), Settings())
        except ConfigError as exc:
            problems.append(Problem(f"config.{exc.key}" if exc.key else "config", exc.problem))
    faults = document.get("faults") or []
    if isinstance(faults, list):
        rules = [None if _overlaps(f"faults[{i}]", blamed) else rule for i, rule in enumerate(faults)]
        problems += _fault_problems(rules, samples)
    errors = config.get("errors") if config_ok else None
    dialect = errors.get("dialect", "spotnana") if isinstance(errors, Mapping) else "spotnana"
    steps = document.get("steps", [])
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if _overlaps(f"steps[{i}]", blamed) or not isinstance(step, Mapping):
            continue
        expect = step.get("expect", {})
        request = step.get("request", {})
        if "error" in expect and dialect != RFC6749:
            problems.append(Problem(
                f"steps[{i}].expect.error",
                "is the rfc6749 dialect's field, but this scenario runs in the spotnana dialect; "
                "use errorCode, or set config.errors.dialect: rfc6749",
            ))
        if ("errorCode" in expect or "errorParameter" in expect) and dialect == RFC6749:
            key = "errorCode" if "errorCode" in expect else "errorParameter"
            problems.append(Problem(
                f"steps[{i}].expect.{key}", "is the spotnana dialect's field, but this scenario sets the rfc6749 dialect; use error"
            ))
        if "body" in request and any(k in request for k in ("form", "omit", "set", "repeat")):
            problems.append(Problem(f"steps[{i}].request.body", "a raw body replaces the form; drop form/omit/set/repeat or the body"))
        form_keys = [k for k in ("grant", "form", "omit", "set", "repeat") if k in request]
        if request.get("path", TOKEN_ENDPOINT_PATH) != TOKEN_ENDPOINT_PATH and form_keys:
            problems.append(Problem(f"steps[{i}].request.{form_keys[0]}", (
                f"describes the token form, which only {TOKEN_ENDPOINT_PATH} is sent; a request to another path "
                "sends its body (body: ...) or nothing")))
        if expect.get("connection") == CONNECTION_BROKEN and len(expect) > 1:
            problems.append(Problem(f"steps[{i}].expect", "with connection: broken there is no answer to check; expect nothing else"))
    return problems


def _fault_problems(rules: Sequence[Any], samples: Mapping[str, str]) -> list[Problem]:
    """Each rule checked by the faults engine itself, so a scenario and POST /_sim/faults agree."""
    book = FaultBook()
    problems = []
    for i, rule in enumerate(rules):
        if rule is None:  # its shape is already reported
            continue
        try:
            book.arm(substitute_all(rule, samples))
        except FaultRuleError as exc:
            path = f"faults[{i}]" + (("" if exc.path.startswith("[") else ".") + exc.path if exc.path else "")
            problems.append(Problem(path, exc.problem))
    return problems


def settings_for(config: Mapping[str, Any], base: Settings, client_id: str | None = None) -> Settings:
    """``base`` with a scenario's config sections applied, checked by the config module's own rules.

    Sections are written as in the TOML config file; each one given replaces that part of ``base``.
    ``client`` patches the client the steps use (``client_id``, else the first effective client).
    Raises :class:`ConfigError` whose key is relative to ``config``.
    """
    document = {k: v for k, v in config.items() if k != "client"}
    loaded = settings_from_document(document, "scenario config")
    changes: dict[str, Any] = {}
    if "errors" in document:
        changes.update(errors=loaded.errors, error_overrides=loaded.error_overrides)
    if "tokens" in document:
        changes["tokens"] = loaded.tokens
    if "journal" in document:
        changes["journal_size"] = loaded.journal_size
    if "profiles" in document:
        changes["profiles"] = loaded.profiles
    if "clients" in document:
        changes["clients"] = loaded.clients
    settings = replace(base, **changes)
    patch = config.get("client")
    if patch:
        settings = _patch_client(settings, patch, client_id)
    return settings


def _patch_client(settings: Settings, patch: Mapping[str, Any], client_id: str | None) -> Settings:
    clients = list(settings.effective_clients())
    index = next((i for i, c in enumerate(clients) if c.client_id == client_id), 0)
    base = clients[index]
    # The admin API's path for POST /_sim/clients: the same checks, so in-process and --target agree.
    clients[index] = client_from_table({**patch, "id": base.client_id}, prefix="client.", base=base)
    return replace(settings, clients=tuple(clients))


def _pairs(mapping: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), v) for k, v in (mapping or {}).items())


def _text(value: Any) -> str:
    # YAML turns `scope: 123` or `on` into numbers/booleans; a form field is always text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _build(document: Mapping[str, Any], source: str) -> Scenario:
    steps = []
    for i, raw in enumerate(document["steps"]):
        steps.append(Step(name=str(raw.get("name") or f"step {i + 1}"), request=_request(raw.get("request") or {}), expect=_expect(raw["expect"])))
    return Scenario(
        name=document["name"],
        description=" ".join(str(document["description"]).split()),
        source=document["source"],
        steps=tuple(steps),
        config=dict(document.get("config") or {}),
        faults=tuple(dict(f) for f in document.get("faults") or ()),
        file=source,
        placeholders=frozenset(placeholders_used(document)),
    )


def _request(raw: Mapping[str, Any]) -> RequestSpec:
    repeat_raw = raw.get("repeat") or {}
    if isinstance(repeat_raw, list):  # [field, ...]: send the default value twice
        repeat: tuple[tuple[str, tuple[str, ...]], ...] = tuple((name, ()) for name in repeat_raw)
    else:
        repeat = tuple((name, tuple(_text(v) for v in values)) for name, values in repeat_raw.items())
    structured = isinstance(raw.get("body"), (dict, list))  # sent as JSON, placeholders filled inside
    # A call to another API sends no token form: only the body it is given, if any.
    api_call = raw.get("path", TOKEN_ENDPOINT_PATH) != TOKEN_ENDPOINT_PATH and "body" not in raw
    default_type = JSON_CONTENT_TYPE if structured else None if api_call else FORM_CONTENT_TYPE
    spec = RequestSpec(
        grant=raw.get("grant", "token-exchange"),
        form=_form(raw["form"]) if "form" in raw else None,
        omit=tuple(raw.get("omit") or ()),
        set=tuple((k, _text(v)) for k, v in (raw.get("set") or {}).items()),
        repeat=repeat,
        headers=tuple((k, _text(v)) for k, v in (raw.get("headers") or {}).items()),
        content_type=raw.get("content_type", default_type),
        body="" if api_call else None if structured else raw.get("body"),
        json=raw["body"] if structured else None,
        method=raw.get("method", "POST"),
        **({"path": raw["path"]} if "path" in raw else {}),
    )
    if any(not values for _, values in repeat):
        # A bare field name repeats the value the request would otherwise send once.
        defaults = dict(replace(spec, repeat=()).form_pairs({}))
        repeat = tuple((n, vs or (defaults.get(n, ""),) * 2) for n, vs in repeat)
        spec = replace(spec, repeat=repeat)
    return spec


def _form(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for name, value in raw.items():
        for v in value if isinstance(value, list) else [value]:
            pairs.append((str(name), _text(v)))
    return tuple(pairs)


def _expect(raw: Mapping[str, Any]) -> Expectation:
    user_detail: UserDetailExpectation | None = None
    if "user_detail_calls" in raw:
        user_detail = UserDetailExpectation(calls=raw["user_detail_calls"])
    if "user_detail" in raw:
        ud = raw["user_detail"]
        user_detail = UserDetailExpectation(
            calls=ud.get("calls", user_detail.calls if user_detail else None),
            status=ud.get("status"),
            error_contains=ud.get("error_contains"),
            authorization=ud.get("authorization"),
        )
    return Expectation(
        status=raw.get("status"),
        error_code=raw.get("errorCode"),
        error=raw.get("error"),
        error_parameter=raw.get("errorParameter"),
        connection=raw.get("connection"),
        json=raw.get("json"),
        body=_pairs(raw.get("body")),
        headers=_pairs(raw.get("headers")),
        claims=_pairs(raw.get("claims")),
        user_detail=user_detail,
    )

"""The README and the manual in docs/ promise things; these keep the promises true.

What is generated is compared with its generator (``.venv/bin/python docs/_gen/reference.py``
rewrites it); every code block is run or checked by its language; every name, flag, route, journal
field and config key the manual mentions must exist, and every one the code has must be mentioned.
How a block is treated is described in docs/project/architecture.md ("Keeping the manual equal to
the code"). A block preceded by ``<!-- docs-test: illustrative -->`` is only shown, never run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import io
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from spotnana_sim.cli.main import build_parser
from spotnana_sim.core.config_file import load_settings, settings_from_document
from spotnana_sim.core.error_table import error_table_markdown
from spotnana_sim.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
REGENERATE = ".venv/bin/python docs/_gen/reference.py"
README_MAX_BYTES = 12 * 1024
ILLUSTRATIVE = "<!-- docs-test: illustrative -->"
LANGUAGES = {"python", "toml", "json", "yaml", "sh", "text"}  # run or checked here (text: output, never run)
# Languages this suite cannot run: such a block must be included from a file under tests/ (its own tests
# run it) or be marked illustrative.
FOREIGN_LANGUAGES = {"java", "js", "javascript", "kotlin", "ts", "typescript", "go", "csharp"}
# Pages whose foreign-language blocks are not marked yet; drop each once its blocks carry the marker.
UNMARKED_FOREIGN_PAGES = {"docs/clients/nimbus.md", "docs/clients/spring-security.md", "docs/getting-started/container.md"}
DEFAULT_URL = "http://127.0.0.1:8080"  # what the manual's examples call; tests point it at a live simulator


def _run(coroutine: Any) -> Any:
    """``asyncio.run`` on a thread of its own, so a loop some other test left running cannot interfere."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_gen" not in p.parts)


def _page(relative: str) -> str:
    return (DOCS / relative).read_text(encoding="utf-8")


def _sources() -> list[Path]:
    return [README_PATH, *_pages()]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------------------ code blocks


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    text: str  # as rendered: snippet includes expanded
    includes: tuple[Path, ...]
    illustrative: bool

    @property
    def id(self) -> str:
        return f"{_shown(self.path)}:{self.line}"

    @property
    def only_includes(self) -> bool:
        return bool(self.includes) and all(_SNIPPET.match(line) for line in self.raw_lines if line.strip())

    @property
    def raw_lines(self) -> list[str]:
        return _RAW[self.id]


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<language>[\w+-]*)")
_SNIPPET = re.compile(r'^\s*-{2,}8<-{2,}\s+"(?P<path>[^"]+)"\s*$')
_RAW: dict[str, list[str]] = {}


def _blocks_of(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language = opening["indent"], opening["fence"], opening["language"]
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        text, includes = _expand(body)
        block = Block(path, i + 1, language, text, tuple(includes), before == ILLUSTRATIVE)
        _RAW[block.id] = body
        yield block
        i = j + 1


_SECTION_MARK = re.compile(r"-{2,}8<-{2,}\s*\[(start|end):([\w-]+)\]")


def _expand(body: list[str]) -> tuple[str, list[Path]]:
    """The block as pymdownx.snippets renders it: ``path``, ``path:section`` or ``path:start:end``."""
    out: list[str] = []
    includes: list[Path] = []
    for line in body:
        snippet = _SNIPPET.match(line)
        if not snippet:
            out.append(line)
            continue
        name, *selector = snippet["path"].split(":")
        included = ROOT / name
        assert included.is_file(), f"included file {name} does not exist"
        includes.append(included)
        lines = included.read_text(encoding="utf-8").splitlines()
        if len(selector) == 1:
            marks = [i for i, text in enumerate(lines) if (m := _SECTION_MARK.search(text)) and m[2] == selector[0]]
            assert len(marks) == 2, f"{name}: no section {selector[0]!r} (--8<-- [start:…] / [end:…] lines)"
            lines = lines[marks[0] + 1:marks[1]]
        elif len(selector) == 2:
            lines = lines[int(selector[0] or 1) - 1:int(selector[1]) if selector[1] else None]
        out.extend(text for text in lines if not _SECTION_MARK.search(text))
    return "\n".join(out) + "\n", includes


BLOCKS = [block for source in _sources() for block in _blocks_of(source)]


def _runnable(language: str) -> list[Any]:
    return [pytest.param(b, id=b.id) for b in BLOCKS if b.language == language and not b.illustrative]


def test_every_block_is_run_included_from_tests_or_marked_illustrative() -> None:
    problems = []
    for b in BLOCKS:
        if b.language in LANGUAGES:
            continue
        if b.language in FOREIGN_LANGUAGES:
            from_tests = b.only_includes and all(p.relative_to(ROOT).parts[0] == "tests" for p in b.includes)
            if from_tests or b.illustrative or _shown(b.path) in UNMARKED_FOREIGN_PAGES:
                continue
            problems.append(f"{b.id}: a {b.language} block must be included from tests/ or preceded by {ILLUSTRATIVE}")
        else:
            problems.append(f"{b.id}: language {b.language or '(none)'}; use one of {sorted(LANGUAGES | FOREIGN_LANGUAGES)}")
    assert not problems, "\n".join(problems)


def test_included_files_are_tested_code_or_shipped_examples() -> None:
    included = {path for block in BLOCKS for path in block.includes}
    assert ROOT / "examples" / "simulator.toml" in included
    assert ROOT / "tests" / "examples" / "test_howto_partner_login.py" in included
    for path in included:
        relative = path.relative_to(ROOT)
        assert relative.parts[0] in ("tests", "examples"), f"{relative}: include only tested code (tests/) or examples/"


# ------------------------------------------------------------------------------ README


def test_readme_opens_with_the_two_commands() -> None:
    opening = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in opening.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_ci_calls_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_is_short() -> None:
    size = len(README.encode("utf-8"))
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; the manual belongs in docs/ (limit {README_MAX_BYTES})"


def test_readme_links_point_at_files_that_exist() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"\w+://", link)]
    assert any(link.startswith("docs/") for link in local), "the README links into the manual"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_banner_is_the_start_of_the_real_one() -> None:
    [shown] = [b for b in BLOCKS if b.path == README_PATH and b.text.startswith("spotnana-sim listening on")]
    real = _generator().serve_banner().removeprefix("```text\n")
    assert real.startswith(shown.text), f"README.md's banner differs from what serve prints:\n{real}"


def test_readme_quick_starts_cover_the_three_readers() -> None:
    for command in ("pip install spotnana-simulator", "pipx install spotnana-simulator", "make dist",
                    "spotnana-sim check", "spotnana-sim serve", "spotnana-sim replay", "/_sim/faults"):
        assert command in README, f"the README's install and quick starts mention {command!r}"


# ------------------------------------------------------------------------------ generated parts


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference_generator", DOCS / "_gen" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_pages_equal_what_the_code_generates() -> None:
    stale = _generator().stale_pages()
    assert not stale, f"stale generated docs: {', '.join('docs/' + p for p in stale)}; regenerate with: {REGENERATE}"


def test_error_table_page_holds_the_code_table() -> None:
    assert error_table_markdown() in _page("reference/errors.md")


def test_command_line_page_lists_every_subcommand_and_option() -> None:
    page = _page("reference/command-line.md")

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield " ".join([*words, name]), sub
                    yield from walk(sub, [*words, name])

    commands = list(walk(build_parser(), ["spotnana-sim"]))
    assert len(commands) >= 7
    for command, parser in commands:
        assert f"### `{command}`" in page, f"{command} is missing from the command-line reference; run {REGENERATE}"
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page, f"{command} {option} is missing; run {REGENERATE}"


def test_configuration_example_is_the_shipped_file_and_loads() -> None:
    example = ROOT / "examples" / "simulator.toml"
    [block] = [b for b in BLOCKS if example in b.includes]
    assert block.path == DOCS / "reference" / "configuration.md" and block.language == "toml"
    assert block.text.rstrip() == example.read_text(encoding="utf-8").rstrip()
    assert load_settings(example).clients


# ------------------------------------------------------------------------------ running the blocks


@pytest.fixture(scope="module")
def live_simulator() -> Iterator[Any]:
    from spotnana_sim.kit.testing import SimulatorServer

    server = SimulatorServer.start_with(Settings())
    try:
        yield server.handle
    finally:
        server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("block", _runnable("python"))
def test_python_blocks_run(block: Block, live_simulator: Any) -> None:
    if block.only_includes:
        return  # an included tests/examples file: pytest runs it where it lives
    live_simulator.reset()
    code = block.text.replace(DEFAULT_URL, live_simulator.url)
    namespace: dict[str, Any] = {"__name__": f"docs_block_{block.line}"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, block.id, "exec"), namespace)
        for name, function in list(namespace.items()):
            if name.startswith("test_") and callable(function):
                parameters = inspect.signature(function).parameters
                unknown = set(parameters) - {"spotnana_sim"}
                assert not unknown, f"{block.id}: {name} asks for fixtures the docs test cannot give: {unknown}"
                live_simulator.reset()
                function(**({"spotnana_sim": live_simulator} if parameters else {}))


@pytest.mark.parametrize("block", _runnable("toml"))
def test_toml_blocks_load_as_settings(block: Block) -> None:
    settings_from_document(tomllib.loads(block.text), block.id, ROOT / "examples")


def _json_values(block: Block) -> list[Any]:
    try:
        return [json.loads(block.text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in block.text.splitlines() if line.strip()]  # one value per line


@pytest.mark.parametrize("block", _runnable("json"))
def test_json_blocks_parse_and_fault_rules_validate(block: Block) -> None:
    from spotnana_sim.core.fault_rules import validate_rule

    for value in _json_values(block):
        if isinstance(value, dict) and "target" in value:
            validate_rule(value)


@pytest.mark.parametrize("block", _runnable("yaml"))
def test_yaml_blocks_parse_and_scenarios_load(block: Block) -> None:
    document = yaml.safe_load(block.text)
    if isinstance(document, dict) and "steps" in document:
        from spotnana_sim.scenarios.loader import parse_scenario

        parse_scenario(block.text, block.id)


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.MULTILINE))


def _command_lines(text: str) -> Iterator[list[str]]:
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[-1] == "&":
            words.pop()
        if words:
            yield words


def _parses(words: list[str]) -> str | None:
    """None when ``spotnana-sim`` accepts these arguments; else argparse's complaint."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(words)
    except SystemExit as exit_:
        return errors.getvalue().strip() or f"exit {exit_.code}"
    return None


def _check_curl(words: list[str], where: str) -> None:
    from spotnana_sim.core.fault_rules import validate_rule

    url = next((w for w in words if w.startswith(("http://", "https://", "localhost"))), "")
    for flag, value in itertools.pairwise(words):
        if flag in ("-d", "--data", "--data-raw"):
            body = json.loads(value)
            if url.rstrip("/").endswith("/_sim/faults"):
                validate_rule(body)
            assert any(w.lower() == "content-type: application/json" for w in words), (
                f"{where}: the admin API takes JSON bodies only with Content-Type: application/json"
            )


@pytest.mark.parametrize("block", _runnable("sh"))
def test_shell_blocks_use_real_commands_flags_and_targets(block: Block) -> None:
    for words in _command_lines(block.text):
        where = f"{block.id}: {' '.join(words)}"
        if words[0] == "spotnana-sim":
            problem = _parses(words[1:])
            assert problem is None, f"{where}: {problem}"
        elif words[0] == "make":
            for target in words[1:]:
                assert target in _make_targets(), f"{where}: no make target {target!r}"
        elif words[0] == "curl":
            _check_curl(words, where)


# ------------------------------------------------------------------------------ names and flags


_DOTTED = re.compile(r"\bspotnana_sim(?:\.[A-Za-z_]\w*)+")
DATA_PACKAGES = {"spotnana_sim.scenarios.library"}  # package data, not importable modules
SUBPACKAGES = {"core", "harness", "server", "kit", "scenarios", "cli", "reference"}


def _resolve(name: str) -> Any:
    parts = name.split(".")
    if parts[1] not in SUBPACKAGES:  # `spotnana_sim.token_url`: the pytest fixture, a SimulatorHandle
        from spotnana_sim.kit.testing import SimulatorHandle

        target: Any = SimulatorHandle
        for attribute in parts[1:]:
            target = getattr(target, attribute)
        return target
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(name)


def test_every_spotnana_sim_name_in_the_manual_exists() -> None:
    names = {name for source in _sources() for name in _DOTTED.findall(source.read_text(encoding="utf-8"))}
    assert len(names) > 20
    missing = []
    for name in sorted(names - DATA_PACKAGES):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name} ({type(exc).__name__}: {exc})")
    assert not missing, "the manual names things the code does not have:\n" + "\n".join(missing)


def _options_in(path: Path, call: str) -> set[str]:
    return set(re.findall(rf'{call}\(\s*"(--[\w-]+)"', path.read_text(encoding="utf-8")))


def _known_flags() -> set[str]:
    known: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            known.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    plugin = importlib.import_module("spotnana_sim.kit.pytest_plugin").__file__
    assert plugin
    known |= _options_in(Path(plugin), "addoption")
    for script in ("run.py", "soak.py"):
        known |= _options_in(ROOT / "bench" / script, "add_argument")
    known |= {"--check"}  # docs/_gen/reference.py
    known |= {"--strict", "--site-dir"}  # mkdocs build
    known |= {"--data-urlencode"}  # curl
    return known


SUBCOMMANDS = {"serve", "demo", "reference", "check", "replay", "record"}


def _flag_contexts(source: Path) -> Iterator[str]:
    """Where the manual names our flags: command lines of spotnana-sim (or pytest, for the plugin's
    options) in shell and text blocks and in backticks, and a flag alone in backticks."""
    blocks = [b for b in BLOCKS if b.path == source]
    for block in blocks:
        if block.language in ("sh", "text"):
            yield from block.text.replace("\\\n", " ").splitlines()
    yield from re.findall(r"`([^`\n]+)`", source.read_text(encoding="utf-8"))


def _ours(context: str) -> bool:
    words = [w for w in context.split() if not re.match(r"^[A-Z_]+=", w)]  # skip VAR=value prefixes
    if not words:
        return False
    first = words[0].rsplit("/", 1)[-1]
    return first.startswith("--") or first in {"spotnana-sim", "pytest"} | SUBCOMMANDS


def test_every_flag_the_manual_mentions_exists() -> None:
    known = _known_flags()
    unknown = set()
    checked = set()
    for source in _sources():
        for context in filter(_ours, _flag_contexts(source)):
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]", context):
                checked.add(flag)
                if flag not in known:
                    unknown.add(f"{_shown(source)}: {flag} (in {context.strip()[:80]!r})")
    assert len(checked) > 30, f"the flag check found only {sorted(checked)}: is it still reading the manual?"
    assert not unknown, "flags the code does not have:\n" + "\n".join(sorted(unknown))


# ------------------------------------------------------------------------------ reference pages vs code


def _app_routes(app: Any) -> list[Any]:
    while not hasattr(app, "routes") and hasattr(app, "app"):
        app = app.app
    return list(app.routes)


def test_every_admin_route_is_in_the_admin_api_reference() -> None:
    from spotnana_sim.server.inprocess import build_in_process

    page = _page("reference/admin-api.md")

    async def routes() -> list[Any]:
        sim = build_in_process(Settings())
        await sim.aclose()
        return [r for r in _app_routes(sim.app) if getattr(r, "path", "").startswith("/_sim/")]

    admin = _run(routes())
    assert len(admin) >= 8
    missing = [
        f"{method} {route.path}"
        for route in admin
        if not route.path.startswith("/_sim/ui")  # the dashboard has its own guide
        for method in sorted((route.methods or set()) - {"HEAD"})
        if f"`{method} {route.path}`" not in page
    ]
    assert not missing, f"admin routes missing from docs/reference/admin-api.md: {missing}"


def _documented_journal_fields() -> set[str]:
    table = _page("reference/journal-entry.md").split("| field | type | meaning |", 1)[1].split("\n\n", 1)[0]
    return {re.findall(r"`(\w+)`", row.split("|")[1])[0] for row in table.strip().splitlines()[1:]}


async def _served_journal() -> list[dict[str, Any]]:
    from spotnana_sim.server.inprocess import build_in_process

    sim = build_in_process(Settings())
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": "demo-client",
        "client_secret": "demo-secret", "subject_token": "demo-token-ada",
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
    }
    try:
        async with sim.client() as http:
            assert (await http.post("/v2/auth/oauth2-token", data=form)).status_code == 200
            await http.post("/v2/auth/oauth2-token", data={**form, "client_secret": "wrong"})
            journal = await http.get("/_sim/journal")
            assert journal.status_code == 200, journal.text
            entries: list[dict[str, Any]] = journal.json()["entries"]
            return entries
    finally:
        await sim.aclose()


def test_every_journal_field_served_is_described_and_every_described_field_is_served() -> None:
    documented = _documented_journal_fields()
    served = set().union(*(entry.keys() for entry in _run(_served_journal())))
    assert not served - documented, f"journal fields missing from docs/reference/journal-entry.md: {sorted(served - documented)}"
    assert not documented - served, f"docs/reference/journal-entry.md describes fields no entry has: {sorted(documented - served)}"
    [example] = [b for b in BLOCKS if b.path == DOCS / "reference" / "journal-entry.md" and b.language == "json"]
    assert set(json.loads(example.text)) == served, "the example entry in docs/reference/journal-entry.md lacks or adds fields"


def test_every_config_key_is_in_the_configuration_reference() -> None:
    config_file = importlib.import_module("spotnana_sim.core.config_file")
    page = _page("reference/configuration.md")
    keys = set(config_file._TOP_LEVEL_KEYS) | set(config_file.CLIENT_KEYS)
    for section, names in config_file._SECTION_KEYS.items():
        assert f"`[{section}]`" in page, f"[{section}] is missing from docs/reference/configuration.md"
        keys |= set(names)
    missing = sorted(k for k in keys if f"`{k}`" not in page and f"`{k}." not in page and f"[{k}]" not in page)
    assert not missing, f"config keys missing from docs/reference/configuration.md: {missing}"


def test_every_fault_rule_key_and_value_is_in_the_fault_rules_reference() -> None:
    from spotnana_sim.core import fault_rules

    page = _page("reference/fault-rules.md")
    names = {key for keys in fault_rules._KEYS.values() for key in keys}
    names |= set(fault_rules.CONNECTION_FAULTS) | set(fault_rules.USER_DETAIL_WORDS) | set(fault_rules.USER_DETAIL_OBJECTS)
    names |= set(fault_rules.TARGETS)
    missing = sorted(n for n in names if f"`{n}" not in page and f'"{n}"' not in page)
    assert not missing, f"fault rule keys or values missing from docs/reference/fault-rules.md: {missing}"


def _text_block_lines(page: str, after: str) -> list[str]:
    path = DOCS / page
    [block] = [b for b in BLOCKS if b.path == path and b.language == "text" and b.text.lstrip().startswith(after)]
    return [line for line in block.text.splitlines() if line.strip()]


def test_fault_rule_messages_shown_are_the_real_ones() -> None:
    from spotnana_sim.core.fault_rules import FaultRuleError, validate_rule

    shown = _text_block_lines("reference/fault-rules.md", "times:")
    real = []
    for rule in ({"target": "token-endpoint", "times": 0}, {"target": "token-endpoint", "respons": {}},
                 {"target": "token-endpoint", "user_detail": "timeout"}):
        with pytest.raises(FaultRuleError) as failure:
            validate_rule(rule)
        real.append(str(failure.value))
    assert shown == real


SCENARIO_HEAD = "name: typo\ndescription: x\nsource: modeled\n"
BROKEN_SCENARIOS = (
    "steps:\n  - expect: {status: 200}\n  - expect: {stauts: 200}\n",
    "steps:\n  - expect: {status: 200}\n  - expect: {status: 200}\n  - expect: {status: abc}\n",
    "config:\n  client: {timeout: -1}\nsteps:\n  - expect: {status: 200}\n",
    "faults:\n  - {target: token-endpoint, response: {status: 99}}\nsteps:\n  - expect: {status: 200}\n",
    'steps:\n  - request: {set: {client_secret: "${secret}"}}\n    expect: {status: 200}\n',
)


def test_scenario_problems_shown_are_the_real_ones() -> None:
    from spotnana_sim.scenarios.loader import ScenarioError, parse_scenario

    shown = _text_block_lines("reference/scenario-format.md", "scenarios/typo.yaml")
    real = []
    for body in BROKEN_SCENARIOS:
        with pytest.raises(ScenarioError) as failure:
            parse_scenario(SCENARIO_HEAD + body, "scenarios/typo.yaml")
        real.append(str(failure.value))
    assert shown == real


def test_validation_error_example_is_the_real_answer() -> None:
    from spotnana_sim.server.inprocess import build_in_process

    [block] = [b for b in BLOCKS if b.path == DOCS / "reference" / "errors.md" and b.language == "json"]
    shown = json.loads(block.text)

    async def answer() -> dict[str, Any]:
        sim = build_in_process(Settings())
        try:
            async with sim.client() as http:
                response = await http.post("/v2/auth/oauth2-token", data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": "demo-client",
                    "client_secret": "demo-secret", "subject_token": "demo-token-ada",
                    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "profile",
                })
            assert response.status_code == 400
            return dict(response.json())
        finally:
            await sim.aclose()

    real = _run(answer())
    assert shown["errorMessages"] == real["errorMessages"]
    assert set(shown) == set(real)
    assert shown["debugIdentifier"].rpartition("/_sim/")[2] == real["debugIdentifier"].rpartition("/_sim/")[2]


def test_rfc6749_invalid_client_answer_is_as_described() -> None:
    from spotnana_sim.core.error_rendering import ErrorTable
    from spotnana_sim.core.errors import RFC6749, InvalidClient

    rendered = ErrorTable().render(InvalidClient("unknown client"), RFC6749)
    page = " ".join(_page("reference/errors.md").split())
    described = re.search(r"`invalid_client` comes as (\d{3}) (with|without) a `WWW-Authenticate`", page)
    assert described, "docs/reference/errors.md says how invalid_client comes in the rfc6749 dialect"
    assert int(described[1]) == rendered.status
    assert (described[2] == "with") == ("WWW-Authenticate" in rendered.headers)
    fidelity = " ".join(_page("fidelity.md").split())
    assert f"`invalid_client` as {rendered.status}" in fidelity


def test_every_source_key_cited_is_listed_on_the_fidelity_page() -> None:
    sources = _page("fidelity.md").split("## Sources", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| (S\d+) \|", sources, re.MULTILINE))
    cited = {key for source in _sources() for key in re.findall(r"\bS\d{1,2}\b", source.read_text(encoding="utf-8"))}
    cited |= set(re.findall(r"\bS\d{1,2}\b", error_table_markdown()))
    assert cited - listed == set(), f"source keys cited but not listed under Fidelity > Sources: {sorted(cited - listed)}"


def test_every_secret_field_is_named_on_the_security_page() -> None:
    from spotnana_sim.core.redaction import SECRET_FIELDS, SECRET_SUFFIXES

    page = _page("project/security.md")
    missing = sorted(f for f in (*SECRET_FIELDS, *SECRET_SUFFIXES) if f"`{f}`" not in page)
    assert not missing, f"redacted field names missing from docs/project/security.md: {missing}"


def test_limits_stated_are_the_code_limits() -> None:
    from spotnana_sim.core import token_request, user_detail
    from spotnana_sim.harness import endpoint, journal
    from spotnana_sim.server import app

    page = _page("project/reliability.md")
    stated = {
        "16 KiB (`spotnana_sim.server.app.MAX_HEADER_BYTES`)": app.MAX_HEADER_BYTES == 16 * 1024,
        "16 KiB (`spotnana_sim.harness.endpoint.MAX_BODY_BYTES`)": endpoint.MAX_BODY_BYTES == 16 * 1024,
        "64 (`spotnana_sim.core.token_request.MAX_FIELDS`)": token_request.MAX_FIELDS == 64,
        "8192 characters": token_request.MAX_FIELD_LENGTH["subject_token"] == 8192,
        "1024 characters": token_request.MAX_FIELD_LENGTH["client_secret"] == token_request.MAX_FIELD_LENGTH["audience"] == 1024,
        "512 characters": token_request.DEFAULT_MAX_FIELD_LENGTH == 512,
        "64 KiB (`spotnana_sim.core.user_detail.MAX_BODY_BYTES`": user_detail.MAX_BODY_BYTES == 64 * 1024,
        "1000 entries": journal.DEFAULT_MAX_ENTRIES == 1000,
        "8 MiB of entries": journal.DEFAULT_MAX_BYTES == 8 * 1024 * 1024,
    }
    for text, holds in stated.items():
        assert text in page, f"docs/project/reliability.md no longer says {text!r}"
        assert holds, f"docs/project/reliability.md says {text!r}, the code says otherwise"


def test_the_scenario_count_stated_is_the_library_size() -> None:
    count = len(list((ROOT / "scenarios").glob("*.yaml")))
    for source in _sources():
        for stated in re.findall(r"library of (\d+)", source.read_text(encoding="utf-8")):
            assert int(stated) == count, f"{_shown(source)} says the library has {stated} scenarios; it has {count}"


# ------------------------------------------------------------------------------ the site


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_nav_hooks", DOCS / "_gen" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nav_keeps_optional_pages_once_they_exist_and_drops_them_until_then() -> None:
    hooks = _hooks()
    nav = [{"Home": "index.md"}, {"Guides": [{"Model B": "guides/model-b.md"}, {"Dash": "guides/dashboard.md"}]},
           {"Clients": ["clients/*.md"]}, {"Typo": "guides/typo.md"}]
    optional = ["guides/model-b.md", "guides/dashboard.md", "clients/*.md"]
    assert hooks._items(nav, optional, ["index.md"]) == [{"Home": "index.md"}, {"Typo": "guides/typo.md"}]
    written = ["index.md", "guides/model-b.md", "clients/python.md", "clients/go.md"]
    assert hooks._items(nav, optional, written) == [
        {"Home": "index.md"}, {"Guides": [{"Model B": "guides/model-b.md"}]},
        {"Clients": ["clients/go.md", "clients/python.md"]}, {"Typo": "guides/typo.md"},
    ]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "errors" / "index.html").is_file()

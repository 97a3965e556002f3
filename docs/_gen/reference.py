"""Writes the generated parts of the manual from the code, so they cannot drift.

    .venv/bin/python docs/_gen/reference.py          # rewrite the generated regions
    .venv/bin/python docs/_gen/reference.py --check  # exit 1 and name the pages that are stale

A generated region sits between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``
in a page; the prose around it is written by hand. tests/test_docs.py fails when a region differs from
what this module produces (``make docs`` regenerates before it builds).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
USAGE_WIDTH = 80  # fixed, so the page does not depend on the terminal that regenerated it


def error_table() -> str:
    from spotnana_sim.core.error_table import error_table_markdown

    table: str = error_table_markdown()
    return table


def command_line() -> str:
    from spotnana_sim.cli.main import build_parser

    sections: list[str] = []
    for words, parser, summary in _commands(build_parser(), ["spotnana-sim"]):
        sections.append(_command_section(words, parser, summary))
    return "\n\n".join(sections)


def environment_variables() -> str:
    from spotnana_sim.core.overrides import (
        CONFIG_VARIABLE,
        ENVIRONMENT_PREFIX,
        ENVIRONMENT_VARIABLES,
        flag_name,
    )

    lines = ["| variable | same as |", "|---|---|", f"| `{CONFIG_VARIABLE}` | `--config` |"]
    for suffix, argument in ENVIRONMENT_VARIABLES.items():
        lines.append(f"| `{ENVIRONMENT_PREFIX}{suffix}` | `{flag_name(argument)}` |")
    return "\n".join(lines)


def journal_fields() -> str:
    """The journal entry's fields, from the dataclasses the journal is made of."""
    import dataclasses

    from spotnana_sim.harness.journal_entry import JournalEntry, UserDetailCall

    def table(cls: type, prefix: str = "") -> list[str]:
        rows = ["| field | type | meaning |", "|---|---|---|"]
        for f in dataclasses.fields(cls):
            kind = str(f.type).replace(" | None", " or null")
            rows.append(f"| `{prefix}{f.name}` | `{kind}` | {_cell(str(f.metadata.get('doc', '')))} |")
        return rows

    lines = table(JournalEntry)
    lines += ["", "Each of `user_detail_calls`:", "", *table(UserDetailCall)]
    return "\n".join(lines)


BANNER_URL = "http://127.0.0.1:8080"  # what `make run` binds by default


def serve_banner() -> str:
    """What `spotnana-sim serve` prints with default settings."""
    from spotnana_sim.cli.serve import banner
    from spotnana_sim.core.settings import Settings
    from spotnana_sim.server.served import build_served_simulator

    simulator = build_served_simulator(Settings(), base_url=BANNER_URL)
    return f"```text\n{banner(simulator, BANNER_URL)}\n```"


# The layers, lowest first, and the folder each package's source lives in.
PACKAGES = (
    ("spotnana_sim.core", "simulator/core"),
    ("spotnana_sim.harness", "simulator/harness"),
    ("spotnana_sim.server", "simulator/server"),
    ("spotnana_sim.kit", "simulator/kit"),
    ("spotnana_sim.scenarios", "simulator/scenarios"),
    ("spotnana_sim.cli", "simulator/cli"),
    ("spotnana_sim.reference", "reference_impl"),
)


def module_list() -> str:
    """Every module of the package, by layer, with the first sentence of its docstring."""
    import ast

    root = DOCS.parent
    sections = []
    for package, folder in PACKAGES:
        rows = [f"#### `{package}` (`{folder}/`)", "", "| module | what it holds |", "|---|---|"]
        for path in sorted((root / folder).glob("*.py")):
            if path.name == "__init__.py" and package != "spotnana_sim.reference":
                continue
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            name = package if path.name == "__init__.py" else f"{package}.{path.stem}"
            rows.append(f"| `{name}` | {_cell(_first_sentence(docstring))} |")
        sections.append("\n".join(rows))
    return "\n\n".join(sections)


def _first_sentence(docstring: str) -> str:
    paragraph = " ".join(docstring.split("\n\n", 1)[0].split())
    match = re.match(r"(.+?\.)(?:\s+[A-Z`(]|$)", paragraph)
    text = match.group(1) if match else paragraph
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"`\1`", text)  # :class:`~a.b.C` -> `C`
    return text.replace("``", "`") or "(no docstring)"


# page (relative to docs/) -> region name -> what fills it
GENERATED: dict[str, dict[str, Callable[[], str]]] = {
    "reference/errors.md": {"error-table": error_table},
    "reference/command-line.md": {"commands": command_line},
    "reference/configuration.md": {"environment": environment_variables},
    "getting-started/offline.md": {"banner": serve_banner},
    "reference/journal-entry.md": {"fields": journal_fields},
    "project/architecture.md": {"modules": module_list},
}


def _commands(parser: argparse.ArgumentParser, words: list[str]) -> Iterator[tuple[list[str], argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield [*words, name], sub, summaries.get(name, "")
                yield from _commands(sub, [*words, name])


def _command_section(words: list[str], parser: argparse.ArgumentParser, summary: str) -> str:
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=USAGE_WIDTH)
    prefix = "usage: "
    usage_lines = parser.format_usage().rstrip().splitlines()
    usage = "\n".join([usage_lines[0].removeprefix(prefix)] + [line[len(prefix):] for line in usage_lines[1:]])
    lines = [f"### `{' '.join(words)}`", ""]
    about = parser.description or summary
    if about:
        lines += [_sentence(about), ""]
    lines += ["```text", usage, "```"]
    rows = [_option_row(action, parser.prog) for action in parser._actions if _documented(action)]
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if rows:
        lines += ["", "| option | value | meaning |", "|---|---|---|", *rows]
    for group in subcommands:
        names = ", ".join(f"`{' '.join([*words, name])}`" for name in group.choices)
        lines += ["", f"Subcommands: {names}."]
    return "\n".join(lines)


def _documented(action: argparse.Action) -> bool:
    return not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and action.help != argparse.SUPPRESS


def _option_row(action: argparse.Action, prog: str) -> str:
    positional = not action.option_strings
    name = f"`{_metavar(action)}`" if positional else " / ".join(f"`{s}`" for s in action.option_strings)
    if action.nargs == 0:
        value = "(switch)"
    elif action.choices is not None:
        value = " \\| ".join(f"`{c}`" for c in action.choices)
    elif positional:
        value = "(argument)"
    else:
        value = f"`{_metavar(action)}`"
    notes = []
    if isinstance(action, argparse._AppendAction):
        notes.append("repeatable")
    if action.nargs in ("*", "+"):
        notes.append("several")
    if action.nargs in ("?", "*"):
        notes.append("optional")
    elif action.required:
        notes.append("required")
    if notes:
        value += f" ({', '.join(notes)})"
    meaning = _expand_help(action, prog)
    default = action.default
    if default not in (None, False, [], argparse.SUPPRESS) and "default" not in meaning:
        meaning += f" (default {default})"
    return f"| {name} | {value} | {_cell(meaning)} |"


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    return action.dest.upper() if action.option_strings else action.dest


def _expand_help(action: argparse.Action, prog: str) -> str:
    """The help text with %(default)s and friends filled in, as argparse prints it."""
    text = action.help or ""
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    return text % params if "%" in text else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


_REGION = re.compile(
    r"^(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->)\n(?P<body>.*?)^(<!-- END GENERATED: (?P=name) -->)$",
    re.DOTALL | re.MULTILINE,
)


def render(page: str, text: str) -> str:
    """``text`` (the page ``page``) with each generated region filled from the code."""
    makers = GENERATED[page]
    found: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in makers:
            raise ValueError(f"docs/{page}: unknown generated region {name!r}; known: {', '.join(makers)}")
        found.add(name)
        return f"{match.group(1)}\n{makers[name]().strip(chr(10))}\n{match.group(4)}"

    result = _REGION.sub(fill, text)
    missing = set(makers) - found
    if missing:
        raise ValueError(f"docs/{page}: no region for {', '.join(sorted(missing))} (add BEGIN/END GENERATED markers)")
    return result


def stale_pages() -> list[str]:
    return [page for page in GENERATED if render(page, _read(page)) != _read(page)]


def _read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the parts of docs/ that come from the code.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    stale = stale_pages()
    if args.check:
        for page in stale:
            print(f"docs/{page} is stale: run .venv/bin/python docs/_gen/reference.py", file=sys.stderr)
        return 1 if stale else 0
    for page in stale:
        (DOCS / page).write_text(render(page, _read(page)), encoding="utf-8")
        print(f"rewrote docs/{page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

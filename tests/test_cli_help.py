"""Every subcommand and every option of ``spotnana-sim`` explains itself in --help."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from spotnana_sim.cli.main import build_parser


def _parsers(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield " ".join(words), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*words, name))


PARSERS = list(_parsers(build_parser(), ("spotnana-sim",)))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", re.sub(r"\(default[^)]*\)", "", text.lower()))


def test_the_walk_sees_every_command() -> None:
    commands = {name for name, _ in PARSERS}
    for expected in ("spotnana-sim serve", "spotnana-sim demo", "spotnana-sim reference", "spotnana-sim check",
                     "spotnana-sim check user-detail", "spotnana-sim check client", "spotnana-sim replay",
                     "spotnana-sim record"):
        assert expected in commands


@pytest.mark.parametrize("command, parser", PARSERS, ids=[name for name, _ in PARSERS])
def test_every_subcommand_and_option_has_help(command: str, parser: argparse.ArgumentParser) -> None:
    problems = []
    if not (parser.description or "").strip():
        problems.append(f"{command}: no description (its own --help says nothing about what it does)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            problems += [f"{command} {name}: no help in the list of commands" for name in action.choices
                         if not (helps.get(name) or "").strip()]
            continue
        name = "/".join(action.option_strings) or action.dest
        text = action.help or ""
        if not text.strip() or text == argparse.SUPPRESS:
            problems.append(f"{command} {name}: no help")
        elif action.option_strings and _words(text) == _words(action.option_strings[-1]):
            problems.append(f"{command} {name}: the help only repeats the option's name ({text!r})")
    assert not problems, "\n".join(problems)


def test_help_renders_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for command, parser in PARSERS:
        parser.print_help()
        text = capsys.readouterr().out
        assert "usage:" in text and "%(" not in text, command


def test_version_prints_the_installed_distributions_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from spotnana_sim.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"spotnana-sim {version('spotnana-simulator')}"

"""Results of a run (conformance checks, replayed scenarios) and their renderings: a table for
people, JSON, JUnit XML for CI. Every command that reports results goes through this one model.

A result ends in one of five states. ``fail`` breaks the build (exit status 1), and so does
``error`` (the check could not be run at all: a malformed scenario, a target that refused set-up);
``warn`` is worth reading but does not; ``skip`` says why the check was not run (e.g. no expired
token was given). A ``critical`` failure is one that lets the wrong user in; it is labelled as such
everywhere.

Two tables: :meth:`Report.to_table` (checks: label, name, summary and how to fix it) and
:meth:`Report.to_outcome_table` (one row per item run: name, outcome, why; what ``replay`` prints).
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS = "pass"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"
ERROR = "error"
STATUSES = (PASS, WARN, FAIL, SKIP, ERROR)
BREAKING = (FAIL, ERROR)  # the statuses that make a run fail (exit status 1)
# How an outcome table names each status (the row's label is the word in capitals).
OUTCOME_WORDS = {PASS: "passed", FAIL: "failed", ERROR: "error", SKIP: "skipped", WARN: "warned"}


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: what it sent, what came back and, unless it passed, how to fix it."""

    name: str
    status: str
    summary: str
    sent: str = ""
    received: str = ""
    fix: str = ""
    critical: bool = False
    details: tuple[str, ...] = ()
    group: str = ""  # JUnit classname; "" → the report's title
    file: str = ""  # where the check is written down (a scenario file), for JUnit's file attribute
    seconds: float = 0.0  # how long it ran, for JUnit's time attribute

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @property
    def label(self) -> str:
        return "FAIL (critical)" if self.critical and self.status == FAIL else self.status.upper()

    @property
    def junit_message(self) -> str:
        """The one-line message of a JUnit element: the summary, labelled when the failure is critical."""
        return f"{self.label}: {self.summary}" if self.critical and self.status == FAIL else self.summary

    def explain(self) -> str:
        """Everything a reader needs, as indented text (failure messages, JUnit bodies)."""
        lines = [f"{self.label}: {self.name}: {self.summary}"]
        for key, value in (("sent", self.sent), ("received", self.received), ("fix", self.fix)):
            if value:
                lines.append(f"  {key}: {value}")
        lines += [f"  - {d}" for d in self.details]
        return "\n".join(lines)


@dataclass
class Report:
    """An ordered list of results for one subject (a user-detail URL, a journal)."""

    title: str
    subject: str
    results: list[CheckResult] = field(default_factory=list)

    def add(self, result: CheckResult) -> CheckResult:
        self.results.append(result)
        return result

    def counts(self) -> dict[str, int]:
        return {status: sum(r.status == status for r in self.results) for status in STATUSES}

    @property
    def failed(self) -> bool:
        """Whether the run fails: a check failed, or one could not be run at all."""
        return any(r.status in BREAKING for r in self.results)

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check named {name!r}; the checks are {', '.join(r.name for r in self.results)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "subject": self.subject,
            "ok": not self.failed,
            "counts": self.counts(),
            "results": [_result_dict(r) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_table(self, width: int = 100) -> str:
        name_width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{self.title}: {self.subject}", ""]
        for r in self.results:
            head = f"{r.label:<15} {r.name:<{name_width}}  "
            wrapped = textwrap.wrap(r.summary, max(30, width - len(head))) or [""]
            lines.append(head + wrapped[0])
            lines += [" " * len(head) + more for more in wrapped[1:]]
            if r.status in (FAIL, WARN):
                for key, value in (("sent", r.sent), ("got", r.received), ("fix", r.fix)):
                    if value:
                        lines.append(" " * len(head) + f"{key}: {value}")
                lines += [" " * len(head) + f"- {d}" for d in r.details]
        counts = self.counts()
        shown = [s for s in STATUSES if s != ERROR or counts[s]]  # checks that run seldom error: say so only then
        lines += ["", ", ".join(f"{counts[s]} {s}" for s in shown) + (" — FAILED" if self.failed else " — OK")]
        return "\n".join(lines)

    def to_outcome_table(self, noun: str = "check") -> str:
        """One row per result (``noun``, result, why), the counts, then every failure's details in full."""
        rows = [(noun, "result", "why")] + [(r.name, OUTCOME_WORDS[r.status].upper(), r.summary) for r in self.results]
        widths = [max(len(row[i]) for row in rows) for i in (0, 1)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
        lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
        counts = self.counts()
        shown = [PASS, FAIL, ERROR, SKIP] + ([WARN] if counts[WARN] else [])
        lines += ["", ", ".join(f"{counts[s]} {OUTCOME_WORDS[s]}" for s in shown)]
        for r in self.results:
            if r.status in BREAKING and r.details and list(r.details) != [r.summary]:
                lines.append(f"\n{r.name} ({r.file}):" if r.file else f"\n{r.name}:")
                lines += [f"  {d}" for d in r.details]
        return "\n".join(lines)

    def _junit_root(self) -> ET.Element:
        """One <testcase> per result: fail → <failure>, error → <error>, skip → <skipped>, warn → passes
        with <system-out>. The message is the summary; the element's text explains it in full."""
        counts = self.counts()
        suite = ET.Element(
            "testsuite",
            name=self.title,
            tests=str(len(self.results)),
            failures=str(counts[FAIL]),
            errors=str(counts[ERROR]),
            skipped=str(counts[SKIP]),
            time=f"{sum(r.seconds for r in self.results):.3f}",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="subject", value=self.subject)
        for r in self.results:
            case = ET.SubElement(suite, "testcase", classname=r.group or self.title, name=r.name, time=f"{r.seconds:.3f}")
            if r.file:
                case.set("file", r.file)
            if r.status in BREAKING:
                tag = "failure" if r.status == FAIL else "error"
                ET.SubElement(case, tag, message=r.junit_message).text = r.explain()
            elif r.status == SKIP:
                ET.SubElement(case, "skipped", message=r.summary)
            elif r.status == WARN:
                ET.SubElement(case, "system-out").text = r.explain()
        suites = ET.Element("testsuites")
        suites.append(suite)
        ET.indent(suites)
        return suites

    def to_junit(self) -> str:
        return ET.tostring(self._junit_root(), encoding="unicode", xml_declaration=True)

    def write_junit(self, path: Path) -> None:
        ET.ElementTree(self._junit_root()).write(path, encoding="utf-8", xml_declaration=True)


_OPTIONAL_FIELDS = ("group", "file", "seconds")  # in JSON only when set: a check report has none of them


def _result_dict(result: CheckResult) -> dict[str, Any]:
    data = {**asdict(result), "details": list(result.details)}
    return {k: v for k, v in data.items() if k not in _OPTIONAL_FIELDS or v}

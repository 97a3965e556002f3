"""Results of a conformance run and their three renderings: a table for people, JSON, JUnit XML for CI.

A check ends in one of four states. ``fail`` breaks the build (exit status 1); ``warn`` is worth
reading but does not; ``skip`` says why the check could not run (e.g. no expired token was given).
A ``critical`` failure is one that lets the wrong user in; it is labelled as such everywhere.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

PASS = "pass"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"
STATUSES = (PASS, WARN, FAIL, SKIP)


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

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @property
    def label(self) -> str:
        return "FAIL (critical)" if self.critical and self.status == FAIL else self.status.upper()

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
        return any(r.status == FAIL for r in self.results)

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
            "results": [{**asdict(r), "details": list(r.details)} for r in self.results],
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
        lines += ["", ", ".join(f"{counts[s]} {s}" for s in STATUSES) + (" — FAILED" if self.failed else " — OK")]
        return "\n".join(lines)

    def to_junit(self) -> str:
        """One <testcase> per check: fail → <failure>, skip → <skipped>, warn → passes with <system-out>."""
        counts = self.counts()
        suite = ET.Element(
            "testsuite",
            name=self.title,
            tests=str(len(self.results)),
            failures=str(counts[FAIL]),
            skipped=str(counts[SKIP]),
            errors="0",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="subject", value=self.subject)
        for r in self.results:
            case = ET.SubElement(suite, "testcase", classname=self.title, name=r.name)
            if r.status == FAIL:
                ET.SubElement(case, "failure", message=f"{r.label}: {r.summary}").text = r.explain()
            elif r.status == SKIP:
                ET.SubElement(case, "skipped", message=r.summary)
            elif r.status == WARN:
                ET.SubElement(case, "system-out").text = r.explain()
        suites = ET.Element("testsuites")
        suites.append(suite)
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)

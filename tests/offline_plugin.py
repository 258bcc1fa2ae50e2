"""Pytest plugin: the whole test session runs behind Cairn's egress guard, strictly.

Register it from the root conftest with ``pytest_plugins = ["tests.offline_plugin"]``.

- The guard is installed in `pytest_configure`, i.e. *before collection*, because importing
  test modules imports dependencies that phone home at import time (unstructured). The autouse
  session fixture `egress_guard` only asserts it is still in place and hands out its status.
- After every test (and before it, to catch stragglers from background threads) the blocked
  attempts recorded since the last look are attributed to that test. At session end the run
  fails (exit status 1) if any test made an unexpected attempt, and the attempts are printed
  with their callers — even when the library swallowed the `EgressBlocked` it got.
- A test that attempts egress on purpose requests the `egress_log` fixture: its attempts are
  expected, it can assert on them, and the log is reset after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from models.offline import (
    EgressAttempt,
    GuardStatus,
    guard_status,
    install_egress_guard,
    reset_log,
    set_offline_env,
)


@dataclass
class _Violation:
    """Unexpected blocked attempts seen in one window (a test, or outside any test)."""

    where: str
    count: int
    attempts: tuple[EgressAttempt, ...]


@dataclass
class _EgressWatch:
    """Per-session bookkeeping, kept on the config (not in module globals) so a nested
    `pytester` session has its own."""

    violations: list[_Violation] = field(default_factory=list)

    def collect(self, where: str, *, expected: bool) -> None:
        """Attribute blocked attempts since the last look to `where`, then reset the log."""
        status = guard_status()
        if status.blocked and not expected:
            blocked = tuple(a for a in status.attempts if not a.allowed)
            self.violations.append(_Violation(where, status.blocked, blocked))
        reset_log()


_WATCH = pytest.StashKey[_EgressWatch]()


class EgressLog:
    """What the `egress_log` fixture hands a test that attempts a connection on purpose."""

    def status(self) -> GuardStatus:
        return guard_status()

    @property
    def blocked(self) -> tuple[EgressAttempt, ...]:
        return tuple(a for a in guard_status().attempts if not a.allowed)

    @property
    def allowed(self) -> tuple[EgressAttempt, ...]:
        return tuple(a for a in guard_status().attempts if a.allowed)

    def reset(self) -> None:
        reset_log()


def pytest_configure(config: pytest.Config) -> None:
    set_offline_env()
    install_egress_guard(strict=True)
    config.stash[_WATCH] = _EgressWatch()
    # Attempts made while importing plugins/conftests happened before any test: count them.
    config.stash[_WATCH].collect("session start (imports, configure)", expected=False)


@pytest.fixture(scope="session", autouse=True)
def egress_guard() -> GuardStatus:
    """The session's guard; fails loudly if some test or library uninstalled it."""
    status = guard_status()
    assert status.installed and status.strict, "Cairn's egress guard is not installed"
    return status


@pytest.fixture(autouse=True)
def _egress_watch(request: pytest.FixtureRequest) -> Iterator[None]:
    watch = request.config.stash[_WATCH]
    watch.collect(f"before {request.node.nodeid}", expected=False)
    yield
    watch.collect(request.node.nodeid, expected="egress_log" in request.fixturenames)


@pytest.fixture
def egress_log() -> Iterator[EgressLog]:
    """For tests that attempt egress on purpose: their attempts are expected, then cleared."""
    reset_log()
    yield EgressLog()
    reset_log()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    watch = session.config.stash.get(_WATCH, None)
    if watch is None:
        return
    watch.collect("session end (teardown, background threads)", expected=False)
    if watch.violations and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    watch = terminalreporter.config.stash.get(_WATCH, None)
    if not watch or not watch.violations:
        return
    terminalreporter.section("network egress attempts (blocked)", sep="=", red=True, bold=True)
    for violation in watch.violations:
        terminalreporter.line(f"{violation.where}: {violation.count} blocked attempt(s)")
        for attempt in violation.attempts:
            terminalreporter.line(
                f"    {attempt.kind} {attempt.host}:{attempt.port} from {attempt.stack_summary}"
            )
    terminalreporter.line(
        "Cairn must not reach the network. Use the `egress_log` fixture only in tests that "
        "attempt a connection on purpose.",
        red=True,
    )

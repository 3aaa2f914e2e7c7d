"""Property-based fuzzing of a running chat-api from its own OpenAPI document (schemathesis).

Every operation gets schema-valid (positive) and schema-invalid (negative) cases; each response must
not be a 5xx, must have a documented status, content type, headers and body, invalid input must be
refused, and no request may take longer than `REQUEST_TIMEOUT_SECONDS`. An operation-mode pair
that yields no case at all (hypothesis' `Unsatisfiable`) is a failure, unless `NO_INVALID_INPUT`
lists the operation. Synchronous (requests): call it from a worker thread when the server runs in
the caller's event loop.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.strategies as st
import requests
import schemathesis
import schemathesis.checks
from schemathesis import APIOperation, Case, GenerationMode, Response
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Err

__all__ = ["NO_INVALID_INPUT", "FuzzReport", "KnownIds", "fuzz_api"]

REQUEST_TIMEOUT_SECONDS = 15.0

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]

# Invalid input may also be refused as too large (413) — the body limit comes before validation.
_REJECTED = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"]
_CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": _REJECTED}}}
)

# Operations with no parameter, no body and no security: no input exists to make invalid, so their
# negative mode cannot produce a case. Only these are excused, and only while they take no input.
NO_INVALID_INPUT = frozenset({"GET /healthz", "GET /readyz"})

# Path parameters the harness can point at ids that exist; the rest stay as generated (mostly 404s).
KnownIds = Mapping[str, str]


@dataclass
class FuzzReport:
    """Cases sent per operation-mode pair ("GET /v1/keys positive"), the pairs excused (with why),
    and distinct failures (pair, check message, reproduction)."""

    cases: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: dict[str, collections.Counter[int]] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def operations(self) -> set[str]:
        """Operations with at least one case sent, whatever the mode."""
        return {pair.rsplit(" ", 1)[0] for pair in self.cases}

    def record_failure(self, label: str, message: str) -> None:
        seen = self.failures.setdefault(label, [])
        if message not in seen and len(seen) < 5:
            seen.append(message)

    def summary(self) -> str:
        lines = [f"{'operation-mode':<61} {'cases':>6}  statuses"]
        for pair in sorted(self.cases):
            statuses = " ".join(f"{code}x{n}" for code, n in sorted(self.statuses[pair].items()))
            lines.append(f"{pair:<61} {self.cases[pair]:>6}  {statuses}")
        lines.extend(f"{pair:<61} {'-':>6}  excluded: {why}" for pair, why in sorted(self.excluded.items()))
        failed = sum(len(messages) for messages in self.failures.values())
        lines.append(
            f"{len(self.cases)} operation-mode pairs ({len(self.operations)} operations, "
            f"{len(self.excluded)} pairs excluded), {sum(self.cases.values())} cases,"
            f" {failed} distinct failures, {self.seconds:.1f} s"
        )
        for label, messages in sorted(self.failures.items()):
            lines.extend(f"FAIL {label}: {message}" for message in messages)
        return "\n".join(lines)


def _order(label: str) -> tuple[int, str]:
    # Destructive operations last, so known ids exist for as long as possible; logout very last.
    if label.endswith("/v1/auth/logout"):
        return (2, label)
    return (1 if label.startswith("DELETE") else 0, label)


def _with_known_ids(case: Case[Any], known: KnownIds) -> None:
    for name in list(case.path_parameters or {}):
        if name in known:
            case.path_parameters[name] = known[name]
    # A catalog model, so chats get past the model lookup to the router and the provider.
    if "model" in known and isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        case.body["model"] = known["model"]


def _negated(case: Case[Any], location: ParameterLocation) -> bool:
    info = case.meta.components.get(location) if case.meta is not None else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


def _one_case(
    case: Case[Any], *, base_url: str, headers: Mapping[str, str], report: FuzzReport, label: str
) -> None:
    started = time.monotonic()
    if _negated(case, ParameterLocation.HEADER):
        # Sent as generated (the bearer header included), or our token would undo the negation.
        headers = {}
    try:
        response = case.call(base_url=base_url, headers=dict(headers), timeout=REQUEST_TIMEOUT_SECONDS)
    except requests.Timeout:
        report.record_failure(
            label, f"no answer within {REQUEST_TIMEOUT_SECONDS} s: {case.as_curl_command()[:600]}"
        )
        return
    report.statuses.setdefault(label, collections.Counter())[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=dict(headers))
    except FailureGroup as group:
        for failure in group.exceptions:
            message = " ".join(f"{failure.title}: {failure.message}".split())[:300]
            report.record_failure(label, f"{message} [{response.status_code}] {_reproduction(response)}")
    if time.monotonic() - started > REQUEST_TIMEOUT_SECONDS:
        report.record_failure(label, f"took {time.monotonic() - started:.1f} s")


def _operation_test(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    *,
    base_url: str,
    headers_for: Callable[[str], Mapping[str, str]],
    known: KnownIds,
    report: FuzzReport,
) -> Callable[[], None]:
    label = f"{operation.label} {mode.value}"

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), use_known=st.booleans())
    def run(case: Case[Any], use_known: bool) -> None:
        if use_known and mode is GenerationMode.POSITIVE:
            _with_known_ids(case, known)
        report.cases[label] += 1
        _one_case(case, base_url=base_url, headers=headers_for(label), report=report, label=label)

    return run


def _reproduction(response: Response) -> str:
    sent = response.request
    body = sent.body.decode(errors="replace") if isinstance(sent.body, bytes) else str(sent.body)
    answer = response.content.decode(errors="replace")
    return f"{sent.method} {sent.url} body={body[:300]} answer={answer[:300]}"


def fuzz_api(
    *,
    base_url: str,
    headers_for: Callable[[str], Mapping[str, str]],
    known: KnownIds,
    max_examples: int,
    seed: int | None = None,
) -> FuzzReport:
    """Fuzz every operation of the API at `base_url` with `max_examples` cases per mode."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=_CONFIG)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    operations.sort(key=lambda op: _order(op.label))
    report = FuzzReport()
    started = time.monotonic()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            pair = f"{operation.label} {mode.value}"
            if mode is GenerationMode.NEGATIVE and operation.label in NO_INVALID_INPUT:
                _exclude(operation, pair, report)
                continue
            run = _operation_test(
                operation, mode, base_url=base_url, headers_for=headers_for, known=known, report=report
            )
            settings = hypothesis.settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=seed is None,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                verbosity=hypothesis.Verbosity.quiet,
            )
            run = settings(run)
            if seed is not None:
                run = hypothesis.seed(seed)(run)
            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                report.record_failure(pair, "hypothesis could not generate a single case (Unsatisfiable)")
            else:
                if report.cases[pair] == 0:
                    report.record_failure(pair, "no case was sent")
    report.seconds = time.monotonic() - started
    return report


def _exclude(operation: APIOperation[Any, Any, Any, Any], pair: str, report: FuzzReport) -> None:
    """Excuse a listed operation's negative mode, but only while it really takes no input."""
    inputs = [f"{parameter.location.value} {parameter.name}" for parameter in operation.iter_parameters()]
    if inputs or operation.definition.raw.get("requestBody") or operation.definition.raw.get("security"):
        report.record_failure(pair, f"listed in NO_INVALID_INPUT but takes input: {inputs or 'a body'}")
        return
    report.excluded[pair] = "no parameter, body or security: nothing to make invalid"

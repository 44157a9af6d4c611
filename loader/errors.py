"""The one error root of loader and its subclasses.

Every error the library raises on purpose is a ``LoaderError``. Each carries the
ids it is about (run id, table, prefix, file, field), says what to do next, and
says whether trying again can help (``retryable``), in the manner of dlt's
terminal vs transient exceptions. The CLI catches ``LoaderError`` only; anything
else is a bug and keeps its traceback.

Messages never contain secrets: connection details are rendered through
``loader.connection.ConnectionSpec.safe_description``.
"""

from __future__ import annotations

from typing import Any


class LoaderError(Exception):
    """Root of every error loader raises on purpose."""

    retryable: bool = False
    #: exit code the CLI uses for this error
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        next_step: str | None = None,
        retryable: bool | None = None,
        **ids: Any,
    ) -> None:
        self.message = message
        self.next_step = next_step
        if retryable is not None:
            self.retryable = retryable
        self.ids: dict[str, Any] = {k: v for k, v in ids.items() if v is not None}
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        if self.next_step:
            text += f" -> {self.next_step}"
        return text

    @property
    def run_id(self) -> str | None:
        return self.ids.get("run_id")

    def with_ids(self, **ids: Any) -> LoaderError:
        """Attach more ids (e.g. the run id once known) and return self."""
        self.ids.update({k: v for k, v in ids.items() if v is not None})
        return self


class ConfigError(LoaderError):
    """Bad arguments or settings given to the library (terminal)."""

    exit_code = 2


class ManifestError(ConfigError):
    """One or more manifests failed validation. ``problems`` lists every one."""

    def __init__(self, problems: list[str], **ids: Any) -> None:
        self.problems = list(problems)
        summary = "\n".join(self.problems)
        super().__init__(summary, next_step=None, **ids)


class TargetConnectionError(LoaderError):
    """PostgreSQL could not be reached or refused us (usually retryable)."""

    retryable = True


class TargetError(LoaderError):
    """The target database refused a statement for a reason other than the data or the
    connection (no privilege, no such schema...); ``ids["sqlstate"]`` says which."""

    @property
    def sqlstate(self) -> str:
        return str(self.ids.get("sqlstate") or "")


class PrivilegeError(TargetError):
    """The role lacks a privilege the load needs (SQLSTATE 42501, or found missing before any data
    moved: destination/privileges.py); the message names each one, ``next_step`` the GRANT."""


class StagingError(LoaderError):
    """S3 staging failed for an infrastructure reason: bucket, credentials, network.

    COPY falls back to JDBC on these (unless ``fallback: none``)."""

    retryable = True
    infrastructure = True


class ServerSideUnavailable(StagingError):
    """``server_side: always`` but the aws_s3 extension is not installed."""


class DataError(LoaderError):
    """A value the target rejects, a constraint violation, a NUL byte.

    Never falls back: loading the same data another way fails the same way,
    or worse, succeeds with different values."""

    retryable = False


class SchemaMismatchError(DataError):
    """The target table and the DataFrame do not match (missing/extra/incompatible columns)."""


class StateError(LoaderError):
    """The run-state store refused an operation."""


class TransitionError(StateError):
    """A run was not in the state a transition expected (someone else moved it)."""


class LockHeldError(LoaderError):
    """Another run holds the advisory lock of the target table."""

    retryable = True


class SourceError(LoaderError):
    """A manifest's source could not be read (missing path, unreadable file, an illegal type, a
    corrupt file): names the manifest, the path and the cause, and says what to do."""


class SourceChangedError(LoaderError):
    """A resume found that the source changed since its parts were staged."""


class RunNotFoundError(StateError):
    """No run with this id (or no resumable run for this manifest)."""


class Interrupted(LoaderError, KeyboardInterrupt):
    """The load was stopped by SIGINT (Ctrl-C) or SIGTERM (a scheduler): rolled back, recorded as
    failed with reason ``interrupted (SIGINT)``, its staged parts kept for ``--resume``.

    Also a ``KeyboardInterrupt``, so code written for Ctrl-C (``except KeyboardInterrupt`` in a
    notebook, a scheduler's task runner) still recognises it; being a ``LoaderError`` it is also
    caught by ``except Exception``, like every error of ours: a loop that swallows errors per table
    should let this one through. Exit code 128 + the signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, signum: int, details: list[str] | None = None, **ids: Any) -> None:
        self.signum = signum
        self.details = list(details or [])
        self.exit_code = 128 + signum
        super().__init__(self.reason, **ids)

    @property
    def reason(self) -> str:
        """What the state store records: ``interrupted (SIGINT)``."""
        import signal

        try:
            name = signal.Signals(self.signum).name
        except ValueError:
            name = f"signal {self.signum}"
        return f"interrupted ({name})"

    def add(self, detail: str) -> Interrupted:
        """One load's outcome (``public.t unchanged; 8 staged parts kept ...``), shown after the reason."""
        self.details.append(detail)
        self.message = "; ".join([self.reason, *self.details])
        self.args = (str(self),)
        return self

"""One run directory for ``evolve``, ``baseline`` and ``er_mrl`` runs (CONTRACTS §5).

A run directory holds ``run.json`` (the run kind and the names of the files this class wrote), ``.lock`` (an
exclusive ``fcntl.flock`` held while a process writes; the kernel releases it when the process dies, even by
SIGKILL) and whatever the run writes through :class:`RunDir`: ``config.yaml``, ``metrics.csv``,
``checkpoint.pt``, ``best.pt``, JSON files, plots, models.

Guarantees:

* every whole-file write is atomic: written to a temporary file in the same directory, fsync'ed, renamed over
  the target and the directory fsync'ed, so a kill leaves either the old or the new file, never half of one;
* metrics rows are appended and fsync'ed one by one; on resume :meth:`RunDir.truncate_metrics` keeps exactly
  the rows the checkpoint accounts for and drops a partial last line (a kill in the middle of a row);
* ``.pt`` files load with ``torch.load(weights_only=True)``: a crafted file cannot run code; a corrupt or
  unsafe file raises :class:`~metarl_gym.errors.UserError` naming it;
* :meth:`RunDir.create` refuses a directory holding another kind of run, a run of the same kind (resume it
  instead), or files this class did not write (a user's config.yaml, a lone best.pt) unless ``overwrite=True``.

API as agreed in CONTRACTS §5, plus: ``load_checkpoint`` / ``load_best`` take an optional ``map_location``;
``atomic_path(name)`` (a context manager yielding a temporary path, for writers such as ``model.save`` or
``fig.savefig``); ``exists(name)``; ``read_metrics()`` returns a list of dicts with int / float / str values
(empty cells as None); ``kind`` is also stored as ``run.json["kind"]``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any, Iterator

import torch
import yaml

from .errors import UserError

KINDS = ("evolve", "baseline", "er_mrl")
"""The run kinds a directory can hold."""

RUN_JSON = "run.json"
LOCK = ".lock"
FORMAT = 1
_INTERNAL = {RUN_JSON, LOCK}


def fsync_dir(path: Path) -> None:
    """fsync a directory so that a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def safe_torch_load(path: str | Path, map_location=None) -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Raises:
        UserError: the file is missing, corrupt (truncated, not a torch file), or holds objects other than
            tensors and plain containers (a crafted pickle is refused, never executed).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Weights only" in str(err):
            first = str(err).strip().splitlines()[0]
            raise UserError(
                f"refusing to load {path}: it holds objects other than tensors and plain containers, which "
                f"could run code ({first}); only load files this package wrote"
            ) from None
        raise UserError(f"{path} is corrupt ({err}); restore it from a copy or start a new run") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, AttributeError, TypeError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path} is corrupt or not a checkpoint ({message}); restore it from a copy or start a new run") from None


class RunDir:
    """A run directory of one ``kind`` ("evolve", "baseline" or "er_mrl").

    Args:
        path: the directory.
        kind: the run kind this process reads or writes.
        overwrite: let :meth:`create` replace a directory holding another run or foreign files.
    """

    def __init__(self, path: str | Path, kind: str, *, overwrite: bool = False):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.root = Path(path)
        self.kind = kind
        self.overwrite = bool(overwrite)
        self._lock_fd: int | None = None
        self._columns: list[str] | None = None
        self._files: set[str] = set()
        self._config: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r}, {self.kind!r})"

    # ------------------------------------------------------------------ paths and bookkeeping
    def path(self, name: str) -> Path:
        """The path of the run file ``name`` (relative to the directory)."""
        return self.root / name

    def exists(self, name: str) -> bool:
        """Whether the run file ``name`` exists."""
        return self.path(name).exists()

    def _record(self, name: str) -> None:
        top = Path(name).parts[0]
        if top in _INTERNAL or top in self._files:
            return
        self._files.add(top)
        self._write_run_json()

    def _write_run_json(self) -> None:
        info = {"kind": self.kind, "format": FORMAT, "files": sorted(self._files), "config": self._config}
        atomic_write_bytes(self.path(RUN_JSON), (json.dumps(info, indent=1) + "\n").encode())

    def _read_run_json(self) -> dict[str, Any] | None:
        path = self.path(RUN_JSON)
        if not path.is_file():
            return None
        try:
            info = json.loads(path.read_text())
            if not isinstance(info, dict) or info.get("kind") not in KINDS:
                raise ValueError("no valid 'kind'")
        except (ValueError, OSError) as err:
            raise UserError(f"{path} is corrupt ({err}); it should record the run kind, e.g. {{\"kind\": \"evolve\"}}") from None
        return info

    def _present(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name not in _INTERNAL and not p.name.startswith(f".{RUN_JSON}.tmp"))

    # ------------------------------------------------------------------ create / open
    def create(self, config: dict[str, Any] | None = None) -> "RunDir":
        """Start a new run here (the directory is created) and write ``config`` as config.yaml.

        Raises:
            UserError: the directory holds a run (of any kind) or files this class did not write, and
                ``overwrite`` is False; or the path is a file.
        """
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"run directory {self.root} is a file; pick another --run-dir")
        info = self._read_run_json() if self.root.is_dir() else None
        present = self._present()
        if not self.overwrite:
            if info is not None and info["kind"] != self.kind:
                raise UserError(
                    f"{self.root} holds {_a(info['kind'])} run; refusing to write a {self.kind} run over it "
                    f"(pick another --run-dir, or pass --overwrite to replace it)"
                )
            if info is not None and present:
                hint = f"continue it with `metarl-gym evolve --resume {self.root}`, " if self.kind == "evolve" else ""
                raise UserError(
                    f"{self.root} already holds {_a(self.kind)} run; {hint}pick another --run-dir, or pass "
                    f"--overwrite to replace it"
                )
            if info is None and present:
                shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
                raise UserError(
                    f"{self.root} is not empty and holds files metarl-gym did not write ({shown}); refusing to "
                    f"overwrite them: pick another --run-dir, or pass --overwrite"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock():
            if self.overwrite:
                stale = set(info["files"]) if info is not None else set()
                stale |= {"config.yaml", "metrics.csv", "checkpoint.pt", "best.pt"}
                for name in stale:
                    self._remove(name)
            self._files = set()
            self._columns = None
            self._config = None
            self._write_run_json()
            if config is not None:
                self.write_config(config)
        return self

    def _remove(self, name: str) -> None:
        path = self.path(name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def open_existing(self) -> "RunDir":
        """Open a run of this kind for reading or resuming.

        Raises:
            UserError: no run here, or a run of another kind.
        """
        if not self.root.is_dir():
            raise UserError(f"{self.root} does not exist; start a run there with `metarl-gym {self.kind.replace('_', '-')} ... --run-dir {self.root}`")
        info = self._read_run_json()
        if info is None and self.kind == "evolve" and self.exists("config.yaml") and self.exists("checkpoint.pt"):
            # an evolve run written before run.json existed: adopt it (its config cannot be checked for edits)
            with self.lock():
                self._files = {n for n in ("config.yaml", "metrics.csv", "checkpoint.pt", "best.pt") if self.exists(n)}
                self._write_run_json()
            info = self._read_run_json()
        if info is None:
            raise UserError(
                f"{self.root} holds no metarl-gym run (no {RUN_JSON}); it was not written by `metarl-gym "
                f"{self.kind.replace('_', '-')}` (or by an older version)"
            )
        if info["kind"] != self.kind:
            raise UserError(f"{self.root} holds {_a(info['kind'])} run, not {_a(self.kind)} run")
        self._files = set(info.get("files", []))
        self._config = info.get("config")
        return self

    @property
    def recorded_config(self) -> dict[str, Any] | None:
        """The config as last written through :meth:`write_config` (kept in run.json, so an edit of
        config.yaml by hand is detectable: compare it with :meth:`read_config`)."""
        return self._config

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDir"]:
        """Hold the directory's exclusive lock (re-entrant within this object).

        Raises:
            UserError: another process holds it.
        """
        if self._lock_fd is not None:
            yield self
            return
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(
                f"{self.root} is in use by another process (pid {holder}); wait for it to finish or stop it "
                f"before running again on this directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd
        try:
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # closing releases the flock

    # ------------------------------------------------------------------ config / json / bytes
    def write_config(self, config: dict[str, Any]) -> None:
        """config.yaml (atomic), and a copy in run.json (:attr:`recorded_config`)."""
        self.write_text("config.yaml", yaml.safe_dump(config, sort_keys=False))
        self._config = json.loads(json.dumps(config))
        self._write_run_json()

    def read_config(self) -> dict[str, Any]:
        """The stored config.yaml.

        Raises:
            UserError: missing, not YAML (file, line and column named) or not a mapping.
        """
        return load_yaml_file(self.path("config.yaml"))

    def write_text(self, name: str, text: str) -> None:
        """Write a text file atomically."""
        self.write_bytes(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a binary file atomically."""
        self.path(name).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path(name), data)
        self._record(name)

    @contextlib.contextmanager
    def atomic_path(self, name: str) -> Iterator[Path]:
        """Yield a temporary path to write ``name`` to (any writer); renamed into place on success."""
        self.path(name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path(name)) as tmp:
            yield tmp
        self._record(name)

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as JSON atomically (NaN / inf refused: JSON has no such numbers)."""
        self.write_text(name, json.dumps(obj, indent=1, allow_nan=False) + "\n")

    def read_json(self, name: str) -> Any:
        """Read a JSON file; a :class:`UserError` naming it when missing or corrupt."""
        path = self.path(name)
        if not path.is_file():
            raise UserError(f"{path} not found")
        try:
            return json.loads(path.read_text())
        except ValueError as err:
            raise UserError(f"{path} is corrupt ({err}); restore it from a copy or start a new run") from None

    # ------------------------------------------------------------------ torch files
    def save_checkpoint(self, obj: Any) -> None:
        """checkpoint.pt (atomic; tensors, numbers, strings and containers only)."""
        self.save_torch("checkpoint.pt", obj)

    def load_checkpoint(self, map_location=None) -> Any:
        """checkpoint.pt loaded with ``weights_only=True`` (see :func:`safe_torch_load`)."""
        return safe_torch_load(self.path("checkpoint.pt"), map_location)

    def save_best(self, obj: Any) -> None:
        """best.pt (atomic)."""
        self.save_torch("best.pt", obj)

    def load_best(self, map_location=None) -> Any:
        """best.pt loaded with ``weights_only=True``."""
        return safe_torch_load(self.path("best.pt"), map_location)

    def save_torch(self, name: str, obj: Any) -> None:
        """``torch.save`` to ``name`` atomically."""
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        self.write_bytes(name, buffer.getvalue())

    # ------------------------------------------------------------------ metrics.csv
    METRICS = "metrics.csv"

    def append_metrics(self, row: dict[str, Any], columns: list[str] | None = None) -> None:
        """Append one row to metrics.csv (fsync'ed). The first row of a file writes the header: ``columns``
        if given, else the row's keys in order; later rows must not bring new keys.
        """
        path = self.path(self.METRICS)
        if not path.exists() or path.stat().st_size == 0:
            self._columns = list(columns) if columns is not None else list(row)
            header = True
        else:
            if self._columns is None:
                self._columns = self._header()
            header = False
        unknown = [k for k in row if k not in self._columns]
        if unknown:
            raise ValueError(f"metrics row has keys {unknown} not in the metrics.csv header {self._columns}")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if header:
            writer.writerow(self._columns)
        writer.writerow([_format(row.get(c)) for c in self._columns])
        with open(path, "a", newline="") as f:
            f.write(out.getvalue())
            f.flush()
            os.fsync(f.fileno())
        self._record(self.METRICS)

    def _header(self) -> list[str]:
        with open(self.path(self.METRICS), newline="") as f:
            return next(csv.reader(f), [])

    def _complete_lines(self) -> list[str]:
        text = self.path(self.METRICS).read_bytes().decode(errors="replace")
        lines = text.split("\n")
        return lines[:-1]  # the last piece is "" after a final newline, or a partial row

    def read_metrics(self) -> list[dict[str, Any]]:
        """The complete rows of metrics.csv (a partial last line is ignored); values parsed as int / float
        where they look like numbers, empty cells as None.

        Raises:
            UserError: metrics.csv is missing.
        """
        path = self.path(self.METRICS)
        if not path.is_file():
            raise UserError(f"{path} not found")
        lines = self._complete_lines()
        if not lines:
            return []
        rows = list(csv.reader(lines))
        header, body = rows[0], rows[1:]
        return [{k: _parse(v) for k, v in zip(header, r)} for r in body if r]

    def truncate_metrics(self, rows: int) -> None:
        """Keep the header and the first ``rows`` complete rows of metrics.csv (a resume calls this with the
        number of rows its checkpoint accounts for; later rows are recomputed). A partial last line is dropped.

        Raises:
            UserError: metrics.csv is missing or has fewer than ``rows`` complete rows (data was lost; the run
                cannot be resumed faithfully).
        """
        path = self.path(self.METRICS)
        if rows == 0 and not path.exists():
            return
        if not path.is_file():
            raise UserError(
                f"{path} is missing but the checkpoint is at row {rows}; the run's metrics were lost, so it cannot "
                f"be resumed faithfully: restore metrics.csv from a copy or start a new run"
            )
        lines = self._complete_lines()
        have = max(0, len(lines) - 1)
        if have < rows:
            raise UserError(
                f"{path} has {have} complete rows but the checkpoint is at row {rows}; rows were lost, so the run "
                f"cannot be resumed faithfully: restore metrics.csv from a copy or start a new run"
            )
        kept = lines[: rows + 1] if lines else []
        with atomic_file(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))
        self._columns = None
        self._record(self.METRICS)


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _format(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def _parse(value: str) -> Any:
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping.

    Raises:
        UserError: missing file; a syntax error (file, line and column named); not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} not found")
    try:
        with path.open() as f:
            data = yaml.safe_load(f)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise UserError(f"{where}: YAML syntax error: {err.problem or err.context}; fix the file (line {mark.line + 1 if mark else '?'}, column {mark.column + 1 if mark else '?'})") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path} must contain a YAML mapping (key: value lines), got a {type(data).__name__}")
    return data


__all__ = ["KINDS", "RunDir", "atomic_file", "atomic_write_bytes", "load_yaml_file", "safe_torch_load"]

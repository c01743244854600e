"""One run directory for ``evolve``, ``baseline`` and ``er_mrl`` runs (CONTRACTS §5).

A run directory holds ``run.json`` (the run kind, the files this class wrote and their sha256), ``.lock`` (an
exclusive ``fcntl.flock`` held while a process writes; the kernel releases it when the process dies, even by
SIGKILL; the file is removed when the holder lets go) and whatever the run writes through :class:`RunDir`:
``config.yaml``, ``metrics.csv``, ``checkpoint.pt``, ``best.pt``, JSON files, plots, models.

Guarantees:

* every whole-file write is atomic: written to a new temporary file in the same directory, fsync'ed, renamed
  over the target and the directory fsync'ed, so a kill leaves either the old or the new file, never half of one;
* metrics rows are appended and fsync'ed one by one; on resume :meth:`RunDir.truncate_metrics` keeps exactly
  the rows the checkpoint accounts for and drops a partial last line (a kill in the middle of a row);
* ``.pt`` files load with ``torch.load(weights_only=True)``: a crafted file cannot run code; a corrupt or
  unsafe file raises :class:`~metarl_gym.errors.UserError` naming it;
* :meth:`RunDir.create` refuses a directory holding another kind of run, a run of the same kind (resume it
  instead), or files this class did not write (a user's config.yaml, a lone best.pt) unless ``overwrite=True``.

Safety (a run directory may come from someone else; it must not be turned against its user):

* ``run.json`` names only plain files inside the directory, as relative paths without ``.`` / ``..``
  components; an entry that is absolute, climbs out, or is a symbolic link, a directory or anything but a
  regular file is refused with a :class:`UserError` and never deleted (``--overwrite`` deletes nothing then);
* ``.lock`` is opened with ``O_NOFOLLOW`` and must be a regular file with one link: a ``.lock`` symlinked (or
  hard-linked) to another file is refused, never truncated; files are appended / created the same way;
* every file written whole (config.yaml, checkpoint.pt, best.pt, JSON files, plots, models) has its sha256 in
  ``run.json``, recorded before the rename (with the previous one, so a kill between the two stays
  consistent) and verified by :meth:`load_checkpoint`, :meth:`load_best`, :meth:`read_json` and
  :meth:`verify`: a flipped byte is named, not used. ``metrics.csv`` and TensorBoard event files are append-only
  logs (a partial last row is dropped on resume) and carry no checksum;
* best.pt is refused, when written and when read, if any number in it is NaN or inf; strategy states are checked
  by :meth:`~metarl_gym.evolution.base.Strategy.state_dict` / ``load_state_dict`` (which know where ``-inf``
  belongs);
* a failed write (full disk, read-only directory, quota) raises one :class:`UserError` naming the directory,
  the bytes it needed and the last good checkpoint's generation; the files already there stay intact.

API as agreed in CONTRACTS §5, plus: ``load_checkpoint`` / ``load_best`` take an optional ``map_location``;
``atomic_path(name)`` (a context manager yielding a temporary path, for writers such as ``model.save`` or
``fig.savefig``); ``exists(name)``; ``verify(name)``; ``read_metrics()`` returns a list of dicts with int / float /
str values (empty cells as None); ``kind`` is also stored as ``run.json["kind"]``.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import math
import os
import pickle
import secrets
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

import torch

from .errors import UserError
from .yaml_io import dump_yaml_text, load_yaml_file  # load_yaml_file re-exported (public here too)

KINDS = ("evolve", "baseline", "er_mrl")
"""The run kinds a directory can hold."""

RUN_JSON = "run.json"
LOCK = ".lock"
FORMAT = 2
"""run.json layout: 1 listed the files; 2 adds their sha256 (a format-1 run is read, its files unchecked)."""
_INTERNAL = {RUN_JSON, LOCK}
_TMP_MARK = ".tmp-"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


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


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_file(path: str | Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a new temporary path next to ``path``; on success fsync it and rename it over ``path``.

    The temporary name is unpredictable (pid and a random token), so no symlink can be planted there in
    advance; :func:`open_new` creates it exclusively. ``before_replace(tmp)`` runs after the fsync, before the
    rename (RunDir records the file's sha256 there). On an exception the temporary file is removed and ``path``
    is untouched.
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def open_new(path: Path):
    """``open(path, "wb")`` for a file that must not exist yet, never through a symlink (``O_EXCL | O_NOFOLLOW``)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o644), "wb")


def atomic_write_bytes(path: str | Path, data: bytes, before_replace: Callable[[Path], None] | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, before_replace) as tmp, open_new(tmp) as f:
        f.write(data)


def _torch_load_bytes(data: bytes, path: Path, map_location=None) -> Any:
    """``torch.load(weights_only=True)`` of ``data`` (read from ``path``) with errors that name the file."""
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
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


def _read_no_follow(path: Path) -> bytes:
    """The bytes of the regular file ``path``, opened without following a symlink.

    Raises:
        UserError: missing, a symlink, or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UserError(f"{path} not found") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UserError(f"{path} is a symbolic link; a run file must be a plain file: remove the link") from None
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"{path} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def safe_torch_load(path: str | Path, map_location=None) -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Raises:
        UserError: the file is missing, corrupt (truncated, not a torch file), or holds objects other than
            tensors and plain containers (a crafted pickle is refused, never executed).
    """
    path = Path(path)
    return _torch_load_bytes(_read_no_follow(path), path, map_location)


def nonfinite_numbers(value: Any, path: str = "") -> list[str]:
    """Paths of the NaN / inf numbers under ``value`` (float tensors, floats, in dicts / lists / tuples)."""
    if isinstance(value, torch.Tensor):
        ok = not value.is_floating_point() or value.numel() == 0 or bool(torch.isfinite(value).all())
        return [] if ok else [path or "."]
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "."]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nonfinite_numbers(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in nonfinite_numbers(v, f"{path}[{i}]")]
    return []


def entry_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a run.json entry (None when it is a relative path inside the directory)."""
    if not isinstance(name, str):
        return f"not a file name but a {type(name).__name__}"
    if not name:
        return "an empty name"
    if "\x00" in name:
        return "a name with a NUL byte"
    if name.startswith("/") or os.path.isabs(name):
        return "an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "a path that climbs out with '..'"
    if "." in parts or "" in parts:
        return "a path with '.' or empty components (the directory itself, not a file)"
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


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
        self._sha256: dict[str, str] = {}
        self._previous: dict[str, str] = {}
        self._config: dict[str, Any] | None = None
        self._last_good: int | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r}, {self.kind!r})"

    # ------------------------------------------------------------------ paths and bookkeeping
    def path(self, name: str) -> Path:
        """The path of the run file ``name`` (relative to the directory)."""
        return self.root / name

    def exists(self, name: str) -> bool:
        """Whether the run file ``name`` exists."""
        return self.path(name).exists()

    def _check_name(self, name: str) -> None:
        problem = entry_problem(name)
        if problem is not None:
            raise ValueError(f"run file name {name!r} is {problem}; use a relative path inside {self.root}")

    def _record(self, name: str) -> None:
        """Record ``name`` in run.json: a file, or every regular file below a directory (e.g. ``tensorboard``,
        written by another library); such files are logs and carry no checksum."""
        self._check_name(name)
        path = self.path(name)
        if path.is_dir() and not path.is_symlink():
            names = []
            for folder, dirs, files in os.walk(path):  # does not follow symlinks
                for file in files:
                    full = Path(folder) / file
                    if full.is_file() and not full.is_symlink() and _TMP_MARK not in file:
                        names.append(full.relative_to(self.root).as_posix())
        else:
            names = [name]
        new = [n for n in names if n not in self._files and n not in _INTERNAL]
        if new:
            self._files.update(new)
            self._write_run_json()

    def _write_run_json(self) -> None:
        info = {"kind": self.kind, "format": FORMAT, "files": sorted(self._files),
                "sha256": dict(sorted(self._sha256.items())), "sha256_previous": dict(sorted(self._previous.items())),
                "config": self._config}
        data = (json.dumps(info, indent=1) + "\n").encode()
        with self._writing(RUN_JSON, len(data)):
            atomic_write_bytes(self.path(RUN_JSON), data)

    def _read_run_json(self) -> dict[str, Any] | None:
        path = self.path(RUN_JSON)
        if not path.is_file():
            return None
        try:
            info = json.loads(_read_no_follow(path))
            if not isinstance(info, dict) or info.get("kind") not in KINDS:
                raise ValueError("no valid 'kind'")
            if not isinstance(info.get("files", []), list):
                raise ValueError("'files' is not a list")
            for key in ("sha256", "sha256_previous"):
                sums = info.get(key, {})
                if not isinstance(sums, dict) or not all(
                        isinstance(v, str) and len(v) == 64 and k in info["files"] for k, v in sums.items()):
                    raise ValueError(f"'{key}' must map listed files to sha256 hex digests")
        except (ValueError, OSError) as err:
            raise UserError(f"{path} is corrupt ({err}); it should record the run kind, e.g. {{\"kind\": \"evolve\"}}") from None
        for name in info.get("files", []):
            problem = entry_problem(name)
            if problem is not None:
                raise UserError(
                    f"{path} lists {name!r}, which is {problem}: run.json may name only plain files inside {self.root}; "
                    f"refusing to use this run directory (nothing was deleted): remove that entry from {RUN_JSON}"
                )
        return info

    def _present(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name not in _INTERNAL and not p.name.startswith(f".{RUN_JSON}{_TMP_MARK}"))

    # ------------------------------------------------------------------ write errors
    @contextlib.contextmanager
    def _writing(self, name: str, size: int | None = None) -> Iterator[None]:
        """Turn an OSError of a write (full disk, read-only directory, quota) into one :class:`UserError` line
        naming the directory, the bytes needed and the last good checkpoint."""
        try:
            yield
        except UserError:
            raise
        except OSError as err:
            code = errno.errorcode.get(err.errno, "") if err.errno else ""
            reason = f"{err.strerror or err}" + (f" ({code})" if code else "")
            needed = f" (it needs {_size(size)})" if size is not None else ""
            if not self.path(RUN_JSON).is_file():  # nothing of this run on disk: a resume would find no run
                raise UserError(
                    f"cannot write {name} in {self.root}: {reason}{needed}; nothing of this run was written: pick "
                    "another --run-dir, or free space / make the directory writable and run the same command again"
                ) from None
            if self._last_good is not None:
                good = f"the last good checkpoint is at generation {self._last_good} (a resume continues from there)"
            elif self.path("checkpoint.pt").is_file():
                good = "the last good checkpoint is the checkpoint.pt there"
            else:
                good = "no checkpoint was written yet"
            raise UserError(
                f"cannot write {name} in {self.root}: {reason}{needed}; {good} and the files written before are "
                f"intact: free space or make the directory writable, then resume"
            ) from None

    # ------------------------------------------------------------------ create / open
    def create(self, config: dict[str, Any] | None = None) -> "RunDir":
        """Start a new run here (the directory is created) and write ``config`` as config.yaml.

        Raises:
            UserError: the directory holds a run (of any kind) or files this class did not write, and
                ``overwrite`` is False; run.json names something other than a plain file inside the
                directory (nothing is deleted); or the path is a file.
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
        with self._writing("the run directory"):
            self.root.mkdir(parents=True, exist_ok=True)
        with self.lock():
            if self.overwrite:
                stale = set(info["files"]) if info is not None else set()
                stale |= {"config.yaml", "metrics.csv", "checkpoint.pt", "best.pt"}
                stale -= _INTERNAL
                # every entry is checked before anything is deleted
                for name in sorted(stale):
                    problem = self._removal_problem(name)
                    if problem is not None:
                        raise UserError(
                            f"--overwrite: {self.path(name)} is {problem}; a run file must be a plain file inside "
                            f"{self.root}, so it is not deleted: remove or rename it yourself, or pick another --run-dir"
                        )
                for name in sorted(stale):
                    self._remove(name)
            self._files, self._sha256, self._previous = set(), {}, {}
            self._columns = None
            self._config = None
            self._write_run_json()
            if config is not None:
                self.write_config(config)
        return self

    def _removal_problem(self, name: str) -> str | None:
        """Why ``name`` may not be deleted (None: absent, or a regular file reached through real directories)."""
        problem = entry_problem(name)
        if problem is not None:
            return problem
        parts = name.split("/")
        current = self.root
        for i, part in enumerate(parts):
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                return None  # nothing to delete
            except OSError as err:
                return f"unreadable ({err.strerror})"
            if stat.S_ISLNK(mode):
                return "a symbolic link" if i == len(parts) - 1 else f"below the symbolic link {current}"
            if i < len(parts) - 1 and not stat.S_ISDIR(mode):
                return f"below {current}, which is not a directory"
            if i == len(parts) - 1 and stat.S_ISDIR(mode):
                return "a directory"
            if i == len(parts) - 1 and not stat.S_ISREG(mode):
                return "not a regular file"
        return None

    def _remove(self, name: str) -> None:
        """Delete the regular file ``name`` (checked by :meth:`_removal_problem`), then its emptied folders."""
        with self._writing(name), contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
        parent = PurePosixPath(name).parent
        while parent != PurePosixPath("."):
            try:
                os.rmdir(self.root / parent)  # only if empty
            except OSError:
                break
            parent = parent.parent

    def open_existing(self) -> "RunDir":
        """Open a run of this kind for reading or resuming.

        Raises:
            UserError: no run here, a run of another kind, or a run.json naming something other than a plain
                file inside the directory.
        """
        if self.root.exists() and not self.root.is_dir():  # was "does not exist" for a file
            raise UserError(f"{self.root} is a file, not a run directory; give the directory a metarl-gym command wrote")
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
        self._sha256 = dict(info.get("sha256", {}))
        self._previous = dict(info.get("sha256_previous", {}))
        self._config = info.get("config")
        return self

    @property
    def recorded_config(self) -> dict[str, Any] | None:
        """The config as last written through :meth:`write_config` (kept in run.json, so an edit of
        config.yaml by hand is detectable: compare it with :meth:`read_config`, or call ``verify("config.yaml")``)."""
        return self._config

    # ------------------------------------------------------------------ checksums
    def verify(self, name: str, data: bytes | None = None) -> None:
        """Check ``name`` (or its bytes ``data``) against the sha256 recorded in run.json when it was written.

        Files without a recorded checksum (logs, files of a format-1 run) pass.

        Raises:
            UserError: the file differs from what this class wrote (a flipped byte, an edit, a truncation).
        """
        expected = self._sha256.get(name)
        if expected is None:
            return
        if data is None:
            data = _read_no_follow(self.path(name))
        if hashlib.sha256(data).hexdigest() not in (expected, self._previous.get(name)):
            raise UserError(
                f"{self.path(name)} is corrupt: its sha256 differs from the one recorded in {RUN_JSON} when it was "
                f"written (a damaged disk or copy, or an edit); it is not used: restore it from a copy or start a new run"
            )

    def _before_replace(self, name: str) -> Callable[[Path], None]:
        def record(tmp: Path) -> None:
            digest = _sha256_file(tmp)
            old = self._sha256.get(name)
            if old is not None and old != digest:
                self._previous[name] = old  # a kill between this run.json and the rename leaves the old file
            self._sha256[name] = digest
            self._files.add(name)
            self._write_run_json()
        return record

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDir"]:
        """Hold the directory's exclusive lock (re-entrant within this object); ``.lock`` is removed on release.

        Raises:
            UserError: another process holds it; ``.lock`` is a symlink, a hard link or not a regular file
                (refused, never truncated); the directory is not writable.
        """
        if self._lock_fd is not None:
            yield self
            return
        import fcntl

        with self._writing("the run directory"):
            self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(LOCK)
        for _ in range(100):  # retried only when a holder removed the file between our open and our flock
            with self._writing(LOCK):
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0), 0o644)
                except OSError as err:
                    if err.errno == errno.ELOOP:
                        raise UserError(
                            f"{path} is a symbolic link; refusing to follow it (it could point at any file): remove it "
                            f"and run again"
                        ) from None
                    raise
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                os.close(fd)
                what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"a hard link ({st.st_nlink} names)"
                raise UserError(f"{path} is {what}; refusing to use it as the lock: remove it and run again")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise UserError(
                    f"{self.root} is in use by another process (pid {holder}); wait for it to finish or stop it "
                    f"before running again on this directory"
                ) from None
            try:
                now = os.lstat(path)
                same = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed (or replaced) the file: lock the new one
        else:
            raise UserError(f"could not lock {path}: it keeps being replaced by another process")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass  # the pid is informative only
        self._lock_fd = fd
        try:
            yield self
        finally:
            self._lock_fd = None
            try:
                now = os.lstat(path)
                if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    os.unlink(path)  # while still holding the flock; a waiting opener sees the inode change
            except OSError:
                pass
            os.close(fd)  # closing releases the flock

    # ------------------------------------------------------------------ config / json / bytes
    def write_config(self, config: dict[str, Any]) -> None:
        """config.yaml (atomic), and a copy in run.json (:attr:`recorded_config`)."""
        self.write_text("config.yaml", dump_yaml_text(config))
        self._config = json.loads(json.dumps(config))
        self._write_run_json()

    def read_config(self) -> dict[str, Any]:
        """The stored config.yaml (not checked against its sha256: a resume reports an edit key by key; call
        ``verify("config.yaml")`` to refuse any edit).

        Raises:
            UserError: missing, not YAML (file, line and column named) or not a mapping.
        """
        return load_yaml_file(self.path("config.yaml"))

    def write_text(self, name: str, text: str) -> None:
        """Write a text file atomically."""
        self.write_bytes(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a binary file atomically (its sha256 recorded in run.json)."""
        self._check_name(name)
        with self._writing(name, len(data)):
            self.path(name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path(name), data, self._before_replace(name))

    @contextlib.contextmanager
    def atomic_path(self, name: str) -> Iterator[Path]:
        """Yield a temporary path to write ``name`` to (any writer); renamed into place on success."""
        self._check_name(name)
        with self._writing(name):
            self.path(name).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(self.path(name), self._before_replace(name)) as tmp:
                yield tmp

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as JSON atomically (NaN / inf refused: JSON has no such numbers)."""
        self.write_text(name, json.dumps(obj, indent=1, allow_nan=False) + "\n")

    def read_json(self, name: str) -> Any:
        """Read a JSON file (checked against its sha256); a :class:`UserError` naming it when missing or corrupt."""
        data = _read_no_follow(self.path(name))
        try:
            obj = json.loads(data)
        except ValueError as err:
            raise UserError(f"{self.path(name)} is corrupt ({err}); restore it from a copy or start a new run") from None
        self.verify(name, data)
        return obj

    # ------------------------------------------------------------------ torch files
    def save_checkpoint(self, obj: Any) -> None:
        """checkpoint.pt (atomic; tensors, numbers, strings and containers only). A strategy's state is checked for
        NaN / inf by the strategy itself (``Strategy.state_dict``)."""
        self.save_torch("checkpoint.pt", obj)
        if isinstance(obj, dict) and isinstance(obj.get("generation"), int):
            self._last_good = obj["generation"]

    def load_checkpoint(self, map_location=None) -> Any:
        """checkpoint.pt loaded with ``weights_only=True`` and checked against its sha256."""
        obj = self.load_torch("checkpoint.pt", map_location)
        if isinstance(obj, dict) and isinstance(obj.get("generation"), int):
            self._last_good = obj["generation"]
        return obj

    def save_best(self, obj: Any) -> None:
        """best.pt (atomic).

        Raises:
            UserError: a number in ``obj`` (params, fitness, ...) is NaN or inf; nothing is written (callers
                write best.pt only once ``strategy.best_fitness`` is finite).
        """
        bad = nonfinite_numbers(obj)
        if bad:
            raise UserError(f"refusing to write {self.path('best.pt')}: {bad} hold NaN / inf; best.pt is written "
                            "only for a finite solution")
        self.save_torch("best.pt", obj)

    def load_best(self, map_location=None) -> Any:
        """best.pt loaded with ``weights_only=True``, checked against its sha256 and for NaN / inf."""
        obj = self.load_torch("best.pt", map_location)
        bad = nonfinite_numbers(obj)
        if bad:
            raise UserError(f"{self.path('best.pt')} holds NaN / inf in {bad}; it is not a usable solution: "
                            "restore it from a copy or run again")
        return obj

    def save_torch(self, name: str, obj: Any) -> None:
        """``torch.save`` to ``name`` atomically."""
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        self.write_bytes(name, buffer.getvalue())

    def load_torch(self, name: str, map_location=None) -> Any:
        """``torch.load(weights_only=True)`` of ``name``, checked against its recorded sha256.

        Raises:
            UserError: missing, a symlink, corrupt, unsafe (a crafted pickle is refused, never run), or not the
                bytes this class wrote.
        """
        path = self.path(name)
        data = _read_no_follow(path)
        obj = _torch_load_bytes(data, path, map_location)
        self.verify(name, data)
        return obj

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
        data = out.getvalue().encode()
        with self._writing(self.METRICS, len(data)):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o644)
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise UserError(f"{path} is a symbolic link; refusing to append to it: remove the link") from None
                raise
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise UserError(f"{path} is not a regular file; refusing to append to it")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        self._record(self.METRICS)

    def _header(self) -> list[str]:
        lines = self._complete_lines()
        return next(csv.reader(lines[:1]), [])

    def _complete_lines(self) -> list[str]:
        text = _read_no_follow(self.path(self.METRICS)).decode(errors="replace")
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
        data = "".join(line + "\n" for line in kept).encode()
        with self._writing(self.METRICS, len(data)):
            atomic_write_bytes(path, data)
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


__all__ = ["KINDS", "RunDir", "atomic_file", "atomic_write_bytes", "entry_problem", "load_yaml_file", "nonfinite_numbers",
           "safe_torch_load"]

"""``edalab simulate KIND --out FILE``: write a simulated data set to CSV or Parquet.

Each kind's options are the parameters of its simulator, with the simulator's own defaults
(``edalab simulate KIND --help`` lists them). The format follows the file's suffix: ``.csv``
(optionally compressed: ``.csv.gz``, ``.csv.bz2``, ``.csv.xz``, ``.csv.zip``) or ``.parquet``
(needs pyarrow).

>>> import tempfile, pathlib, pandas as pd
>>> out = pathlib.Path(tempfile.mkdtemp()) / "sensors.csv"
>>> main(["sensors", "--sensors", "2", "--duration", "4", "--seed", "1", "--out", str(out),
...       "--quiet"])
0
>>> pd.read_csv(out).shape
(8, 3)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from edalab.cli.common import USAGE, CliError, non_negative, positive

__all__ = ["KINDS", "main"]

#: kind → (module, function, [(option, parameter, help)]).
KINDS: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "transactions": ("edalab.streams.transactions", "transactions", [
        ("--customers", "customers", "number of customers"),
        ("--terminals", "terminals", "number of payment terminals"),
        ("--days", "days", "number of simulated days"),
        ("--radius", "radius", "radius around a customer within which terminals are used"),
        ("--start", "start", "first day (UTC)"),
        ("--seed", "seed", "random seed"),
    ]),
    "vitals": ("edalab.streams.vitals", "vitals", [
        ("--patients", "patients", "number of patients"),
        ("--hours", "hours", "hours of observations per patient"),
        ("--cadence", "cadence", "minutes between observation rounds"),
        ("--deterioration-rate", "deterioration_rate",
         "deterioration onsets per patient per day"),
        ("--start", "start", "start time (UTC)"),
        ("--seed", "seed", "random seed"),
    ]),
    "sensors": ("edalab.streams.power_sensors", "power_sensors", [
        ("--sensors", "sensors", "number of sensors (s_0, s_1, ...)"),
        ("--duration", "duration", "simulated time: seconds or an offset like 1h, 15min, 1D"),
        ("--period-ms", "period_ms", "milliseconds between two readings of a sensor"),
        ("--start", "start", "start time (UTC)"),
        ("--seed", "seed", "random seed"),
    ]),
}
#: Sizes and rates: the command line refuses values below these (a usage error, exit 2).
POSITIVE = frozenset({"--customers", "--terminals", "--days", "--radius", "--patients", "--hours",
                      "--cadence", "--sensors", "--period-ms"})
NON_NEGATIVE = frozenset({"--deterioration-rate"})
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
CHUNK_ROWS = 50_000
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}


def _simulator(kind: str) -> Callable[..., pd.DataFrame]:
    module, function, _ = KINDS[kind]
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"the {kind} simulator ({module}.{function}) is not available: "
                           f"{exc}") from exc


def _converter(default: Any) -> Callable[[str], Any]:
    """Command-line text → the type of the simulator's default (int, float, else text)."""
    if isinstance(default, int) and not isinstance(default, bool):
        return int
    if isinstance(default, float):
        return float
    if default is None:  # e.g. seed=None: "none" keeps it unseeded
        return lambda text: None if text.lower() == "none" else _number_or_text(text)
    return str


def _number_or_text(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _parser(kind: str, simulator: Callable[..., pd.DataFrame]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"edalab simulate {kind}",
        description=f"Write a simulated {kind} data set (CSV or Parquet, by the file suffix).",
    )
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file: .csv (.csv.gz, ...) or .parquet")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    signature = inspect.signature(simulator).parameters
    for option, name, text in KINDS[kind][2]:
        if name not in signature:
            continue  # a simulator without this parameter: do not offer it
        default = signature[name].default
        default = None if default is inspect.Parameter.empty else default
        convert = _converter(default)
        if option in POSITIVE:
            convert = positive(convert)
        elif option in NON_NEGATIVE:
            convert = non_negative(convert)
        parser.add_argument(option, dest=name, default=default, type=convert,
                            help=f"{text} (default: {default})")
    return parser


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        if importlib.util.find_spec("pyarrow") is None:
            raise RuntimeError("writing Parquet needs pyarrow: pip install pyarrow "
                               "(or write a .csv file)")
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise CliError(f"--out {str(path)!r}: the suffix must be one of {', '.join(CSV_SUFFIXES)} "
                     f"or .parquet", USAGE)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write(df: pd.DataFrame, path: Path, fmt: str, quiet: bool) -> None:
    # Written to a fresh file beside the target and renamed at the end: an interrupted run
    # leaves no half file. mkstemp creates the file itself (O_EXCL, never through a symlink)
    # under an unpredictable name, so nobody can plant a link there to redirect the write.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    part = Path(name)
    compression = _COMPRESSION.get(path.suffix.lower()) if fmt == "csv" else None
    plain = fmt == "csv" and compression is None
    try:
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if plain
              else os.fdopen(fd, "wb")) as handle, \
             tqdm(total=len(df), unit="rows", desc=f"writing {path.name}", disable=quiet,
                  file=sys.stderr) as bar:
            os.fchmod(fd, 0o666 & ~_umask())  # the mode an ordinary new file gets, not 0600
            if fmt == "parquet":
                df.to_parquet(handle, index=False)
            elif compression is not None:
                options = {"method": compression}
                if compression == "zip":
                    options["archive_name"] = path.name[: -len(path.suffix)]
                df.to_csv(handle, index=False, compression=options, lineterminator="\n")
            else:
                for lo in range(0, max(len(df), 1), CHUNK_ROWS):
                    chunk = df.iloc[lo:lo + CHUNK_ROWS]
                    chunk.to_csv(handle, index=False, header=lo == 0, lineterminator="\n")
                    bar.update(len(chunk))
            bar.update(len(df) - bar.n)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def main(argv: list[str]) -> int:
    """Run ``edalab simulate`` with the arguments after ``simulate``; return the exit status."""
    argv = list(argv)
    kinds = ", ".join(KINDS)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: edalab simulate KIND --out FILE [OPTIONS]\n\nkinds: {kinds}\n"
              f"edalab simulate KIND --help lists a kind's options.")
        return 0 if argv else 2
    kind, rest = argv[0], argv[1:]
    if kind not in KINDS:
        print(f"edalab simulate: unknown kind {kind!r}; choose from {kinds}", file=sys.stderr)
        return 2
    try:
        simulator = _simulator(kind)
        try:
            args = vars(_parser(kind, simulator).parse_args(rest))
        except SystemExit as exc:  # argparse has printed the usage or the error
            return int(exc.code or 0)
        path, quiet = Path(args.pop("out")), args.pop("quiet")
        fmt = _format(path)
        if not path.parent.is_dir():  # found now, not after minutes of simulating
            raise CliError(f"--out {str(path)!r}: no directory {str(path.parent)!r}",
                           USAGE)
        with tqdm(total=1, desc=f"simulating {kind}", disable=quiet, file=sys.stderr) as bar:
            try:
                df = simulator(**args)
            except ValueError as exc:  # the simulator refused a value given on the command line
                raise CliError(f"{kind}: {exc}", USAGE) from exc
            bar.update(1)
        _write(df, path, fmt, quiet)
    except CliError as exc:  # a mistake on the command line
        print(f"edalab simulate: {exc}", file=sys.stderr)
        return exc.code
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"edalab simulate {kind}: {exc}", file=sys.stderr)
        return 1
    if not quiet:
        print(f"wrote {len(df):,} rows × {df.shape[1]} columns to {path}", file=sys.stderr)
    return 0

"""The ``olearn`` command line; each command calls one library function.

Exit codes: 0 ok, 1 the run failed, 2 bad usage or input (one line on stderr, no traceback).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from olearn.errors import OlearnError, UsageError


def _fail(msg: str, code: int) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn olearn's user errors into one line and exit code 2; other failures into exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise   # click's own usage errors: exit 2 with click's message
        except OlearnError as e:
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; rerun with --resume to continue", 1)
        except Exception as e:  # noqa: BLE001 - the run failed: say so in one line
            _fail(f"run failed: {type(e).__name__}: {e}", 1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="olearn")
def main() -> None:
    """olearn: online learning and bandits with exact regret traces."""


def _parse_kv(items: tuple[str, ...]) -> dict[str, Any]:
    from olearn.spec import _parse_value

    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected key=value, got {item!r}")
        out[k] = _parse_value(v)
    return out


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Run directory [runs/out/<name>-<digest>].")
@click.option("--force", is_flag=True, help="Overwrite an existing run directory.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no summary.")
@click.option("--horizon", type=int, help="Rounds T.")
@click.option("--replicates", type=int, help="Replicates R.")
@click.option("--first-replicate", type=int, help="Index of the first replicate.")
@click.option("--seed", type=int, help="Root seed.")
@click.option("--device", help="auto | cpu | cuda | cuda:N.")
@click.option("--delay", type=int, help="Rounds by which feedback reaches the agent.")
@click.option("--record-every", type=int, help="Record every k-th round.")
@click.option("--record-log", type=int, help="Record this many log-spaced rounds.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec field.")
@click.option("--plot/--no-plot", default=True, help="Write OUT/regret.png.")
@click.option("--save-agents/--no-save-agents", default=True,
              help="Save each trained agent to OUT/agents/<label>.pt (warm starts, evaluate).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as JSON on stdout (nothing else).")
@friendly
def simulate(spec: str, out: str | None, force: bool, resume: bool, quiet: bool, plot: bool,
             save_agents: bool, as_json: bool, sets: tuple[str, ...], **flags: Any) -> None:
    """Run the agents of SPEC (a TOML run spec) and write the trace."""
    from olearn.runner import simulate as run
    from olearn.spec import RunSpec, apply_override, read_toml, resolve_files

    data = resolve_files(read_toml(spec), Path(spec).parent)
    _apply_command_line(data, {k: v for k, v in flags.items() if v is not None}, sets,
                        apply_override)
    resolve_files(data, Path.cwd())
    spec_obj = RunSpec.from_dict(data)
    from olearn.runner import default_out

    result = run(spec_obj, out=out or default_out(spec_obj), force=force, resume=resume,
                 quiet=quiet or as_json, save_agents=save_agents)
    plot_path = None
    if plot:
        from olearn.plot import plot_runs

        plot_path = plot_runs([result.out], result.out / "regret.png")
    _after_run(result.out, as_json=as_json, quiet=quiet, plot_path=plot_path)


def _after_run(out: Path, *, as_json: bool, quiet: bool, plot_path: Path | None = None) -> None:
    """After a run: the JSON summary, or the table (unless quiet) and where things went."""
    if as_json:
        _echo_json(out)
        return
    if not quiet:
        _print_summary(out)
    click.echo(f"trace: {out / 'trace'}")
    if plot_path is not None:
        click.echo(f"plot:  {plot_path}")


def _apply_command_line(data: dict[str, Any], flags: dict[str, Any], sets: tuple[str, ...],
                        apply_override: Callable[[dict[str, Any], str], None]) -> None:
    """Put flags and ``--set`` overrides into the spec dict read from the file.

    The command line wins over the file. A field given both by a flag and by ``--set``, or
    ``record.every`` and ``record.log`` both given on the command line, is an error naming both;
    ``--set`` of the same key twice: the later one wins. Setting one of ``record.every`` /
    ``record.log`` on the command line replaces the other if the file had it.
    """
    set_keys = [a.partition("=")[0].strip() for a in sets]
    fields = {key: key.replace("record_", "record.", 1) for key in flags}
    for key, path in fields.items():
        if path in set_keys:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} and --set {path}=... both set {path}; give only one")
    given = {k for k in ("every", "log") if f"record.{k}" in set_keys or f"record.{k}" in
             fields.values()}
    if len(given) == 2:
        raise UsageError("record.every and record.log are both given on the command line; "
                         "record either every k-th round or N log-spaced rounds")
    record = data.get("record")
    if given and isinstance(record, dict):
        record.pop({"every": "log", "log": "every"}[given.pop()], None)
    for key, value in flags.items():
        if key.startswith("record_"):
            data.setdefault("record", {})[key.removeprefix("record_")] = value
        else:
            data[key] = value
    for assignment in sets:
        apply_override(data, assignment)


def _print_summary(out: Path) -> None:
    import warnings

    from rich.console import Console
    from rich.table import Table

    from olearn import rundir
    from olearn.plot import summary
    from olearn.trace import IncompleteRunWarning

    with warnings.catch_warnings():   # show says it in words instead
        warnings.simplefilter("ignore", IncompleteRunWarning)
        df = summary(out)
    horizon = rundir.horizon(out)
    short = [t for t in df["t"] if horizon is not None and t < horizon]
    table = Table(title=f"final regret ({out})", title_justify="left",
                  caption=(f"* not at T = {horizon:,}: the run is incomplete, so these rows are "
                           "at earlier rounds than the others" if short else None),
                  caption_justify="left")
    for col in ("agent", "T", "regret (mean ± 95% t-CI)", "replicates", "rounds/s"):
        table.add_column(col, justify="left" if col == "agent" else "right")
    for row in df.iter_rows(named=True):
        rate = f"{row['rounds_per_s']:,.0f}" if row["rounds_per_s"] is not None else "-"
        t = f"{row['t']:,}*" if row["t"] in short else str(row["t"])
        ci = row["ci95"]   # null (one replicate) or NaN: no interval to print
        half = "n/a" if ci is None or ci != ci else f"{ci:.2f}"
        table.add_row(row["agent"], t, f"{row['mean']:.2f} ± {half}",
                      str(row["replicates"]), rate)
    Console().print(table)   # as wide as the terminal (80 columns when piped)


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="PNG/SVG/PDF [first run's regret.png; a sweep's sweep.png].")
@click.option("--log-x", is_flag=True, help="Logarithmic round axis.")
@click.option("--log-y", is_flag=True, help="Logarithmic regret axis.")
@click.option("--column", default="regret", show_default=True, help="Trace column to plot.")
@click.option("--band", type=click.Choice(["ci", "sd", "quantiles", "none"]), default="ci",
              show_default=True, help="ci: Student-t 95% interval of the mean; sd; 10-90%.")
@click.option("--normalize", type=click.Choice(["t", "sqrt", "log"]),
              help="Divide by t, sqrt(t) or log(t).")
@click.option("--include", multiple=True, metavar="AGENT", help="Only these agents.")
@click.option("--exclude", multiple=True, metavar="AGENT", help="Leave these agents out.")
@click.option("--slopes", is_flag=True, help="Log-log slope over the second half in the legend.")
@click.option("--window", type=int, help="Rolling-mean window for per-round columns.")
@click.option("--title", help="Title [env, main kwargs, T, R from the spec].")
@click.option("--x", "x", metavar="KEY", help="Sweep: final regret against this grid key.")
@click.option("--at", type=int, help="Sweep: the round to read instead of the last.")
@friendly
def plot(runs: tuple[str, ...], output: str | None, log_x: bool, log_y: bool, column: str,
         band: str, normalize: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
         slopes: bool, window: int | None, title: str | None, x: str | None,
         at: int | None) -> None:
    """Plot mean regret per agent with a named band; several RUNS overlay (one colour per
    agent, one line style per run).

    For a sweep directory, --x KEY plots the final regret against a grid parameter.
    """
    from olearn.plot import plot_runs
    from olearn.sweep.sweepdir import is_sweep

    if any(is_sweep(r) for r in runs):
        if len(runs) != 1 or x is None:
            raise UsageError("plot a sweep on its own with --x KEY (a grid key), e.g. "
                             f"olearn plot {runs[0]} --x seed")
        from olearn.sweep import commands

        click.echo(f"plot: {commands.plot(runs[0], x, output, at=at, column=column, log_y=log_y)}")
        return
    if x is not None or at is not None:
        raise UsageError("--x and --at are for sweep directories (made by olearn sweep)")
    path = plot_runs(list(runs), output or Path(runs[0]) / "regret.png", log_x=log_x,
                     log_y=log_y, column=column, band=band, normalize=normalize,
                     include=[a for i in include for a in i.split(",")] or None,
                     exclude=[a for e in exclude for a in e.split(",")], slopes=slopes,
                     window=window, title=title)
    click.echo(f"plot: {path}")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False),
              help="Sweep directory [runs/out/sweep-<name>-<digest>].")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="A local process pool, or Ray.")
@click.option("--address", help="Ray: an existing cluster (e.g. auto or HOST:6379).")
@click.option("--workers", type=int, help="Local: processes [one per core].")
@click.option("--resume", is_flag=True, help="Run only the unfinished and failed tasks.")
@click.option("--force", is_flag=True, help="Overwrite an existing sweep directory.")
@click.option("--dry-run", is_flag=True, help="List the tasks and stop.")
@click.option("--quiet", "-q", is_flag=True, help="No progress, no summary.")
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2",
              help="Add or replace a grid key.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a field of the base spec.")
@friendly
def sweep(spec: str, out: str | None, backend: str, address: str | None, workers: int | None,
          resume: bool, force: bool, dry_run: bool, quiet: bool, grids: tuple[str, ...],
          sets: tuple[str, ...]) -> None:
    """Run the grid of SPEC (a run spec with a [sweep] table): one run directory per task."""
    from olearn.sweep import commands

    commands.sweep(spec, out=out, backend=backend, address=address, workers=workers,
                   resume=resume, force=force, dry_run=dry_run, quiet=quiet, sets=sets,
                   grids=grids)


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--env", "env_id", help="Environment id [the run's own].")
@click.option("--env-kw", multiple=True, metavar="KEY=VALUE", help="Environment keyword.")
@click.option("--agent", "labels", multiple=True, metavar="LABEL",
              help="Saved agents to evaluate [all].")
@click.option("--horizon", type=int, help="Rounds [the run's].")
@click.option("--seed", type=int, help="Root seed [the run's: its instance and stream].")
@click.option("--out", type=click.Path(file_okay=False),
              help="Run directory [runs/out/<name>-eval-<digest>].")
@click.option("--force", is_flag=True, help="Overwrite an existing run directory.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no summary.")
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON on stdout.")
@friendly
def evaluate(run: str, env_id: str | None, env_kw: tuple[str, ...], labels: tuple[str, ...],
             horizon: int | None, seed: int | None, out: str | None, force: bool, quiet: bool,
             as_json: bool) -> None:
    """Play the saved agents of RUN without learning (on its environment and seed, or --env
    and --seed); an ordinary run directory and trace come out."""
    from olearn.runner import default_out
    from olearn.runner import simulate as run_spec
    from olearn.saved import evaluation_spec
    from olearn.spec import RunSpec

    spec = RunSpec.from_dict(evaluation_spec(run, env=env_id, env_kwargs=_parse_kv(env_kw),
                                             horizon=horizon, seed=seed,
                                             labels=list(labels) or None))
    result = run_spec(spec, out=out or default_out(spec), force=force, quiet=quiet or as_json)
    _after_run(result.out, as_json=as_json, quiet=quiet)


def _echo_json(out: Path) -> None:
    import json

    from olearn.results import run_summary

    click.echo(json.dumps(run_summary(out), indent=2))


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON on stdout.")
@friendly
def show(run: str, as_json: bool) -> None:
    """Summary table of a run (final regret per agent, rounds/s, status) or of a sweep (task
    status, best configuration per agent)."""
    from olearn import rundir
    from olearn.sweep.sweepdir import is_sweep

    if is_sweep(run):
        from olearn.sweep import commands

        commands.show_json(run) if as_json else commands.show(run)
        return
    if as_json:
        _echo_json(Path(run))
        return

    meta = rundir.read_meta(run)
    if meta is not None:
        click.echo(f"{meta.get('name')}  status={rundir.status(run, meta)}  "
                   f"device={meta.get('device')}  replicates={len(meta.get('replicates', []))}  "
                   f"seed={meta.get('seed')}")
        note = rundir.incomplete_note(run, meta)
        if note is not None:
            click.echo(note)
    _print_summary(Path(run))


def _first_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


@main.command()
@friendly
def envs() -> None:
    """List environment ids (olearn's and installed plug-ins')."""
    import gymnasium as gym

    from olearn.registry import load_object

    _plugins()
    for env_id, spec in sorted(gym.registry.items()):
        if not env_id.startswith("olearn/") and not _is_plugin(spec):
            continue
        entry = spec.vector_entry_point or spec.entry_point
        try:
            desc = _first_line(load_object(entry) if isinstance(entry, str) else entry)
        except OlearnError:
            desc = "(cannot import)"
        click.echo(f"{env_id:36s} {desc}")


@main.command()
@friendly
def agents() -> None:
    """List agent ids with a one-line description."""
    from olearn.registry import agent_registry

    _plugins()
    for agent_id, spec in sorted(agent_registry.items()):
        click.echo(f"{agent_id:36s} {spec.description}")


def _plugins() -> None:
    """Import the ``olearn.plugins`` entry points, warning about any that fail."""
    from olearn.registry import load_plugins

    for name, error in load_plugins().items():
        click.echo(f"warning: plug-in {name} failed to load: {error}", err=True)


def _is_plugin(spec: Any) -> bool:
    from olearn.registry import plugin_modules

    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    return any(entry.startswith(m) for m in plugin_modules())


@main.group()
def check() -> None:
    """Run the contract checks on a plug-in environment or agent."""


@check.command("env")
@click.argument("env_id")
@click.option("--kw", multiple=True, metavar="KEY=VALUE", help="Environment keyword.")
@friendly
def check_env_cmd(env_id: str, kw: tuple[str, ...]) -> None:
    """Check ENV_ID (id, module:Class or file.py:Class)."""
    from olearn.checks import check_env

    _report(env_id, check_env(env_id, _parse_kv(kw)))


@check.command("agent")
@click.argument("agent_id")
@click.option("--env", "env_id", required=True, help="Environment to check the agent on.")
@click.option("--kw", multiple=True, metavar="KEY=VALUE", help="Agent keyword.")
@click.option("--env-kw", multiple=True, metavar="KEY=VALUE", help="Environment keyword.")
@friendly
def check_agent_cmd(agent_id: str, env_id: str, kw: tuple[str, ...],
                    env_kw: tuple[str, ...]) -> None:
    """Check AGENT_ID on --env."""
    from olearn.checks import check_agent

    _report(agent_id, check_agent(agent_id, env_id, env_kwargs=_parse_kv(env_kw),
                                  kwargs=_parse_kv(kw)))


def _report(name: str, problems: list[str]) -> None:
    if not problems:
        click.echo(f"{name}: all checks passed")
        return
    for p in problems:
        click.echo(f"{name}: {p}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()

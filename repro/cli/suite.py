"""`repro suite NAME | list | validate [NAME...] | report RUN_DIR | status RUN_DIR | compare RUN_A RUN_B... | design RUN_DIR`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tabulate import tabulate

from repro.cli.args import positive_int
from repro.config import ConfigError
from repro.errors import UserError

ACTIONS = ("list", "validate", "report", "status", "compare", "design")
#: ``--out`` is a folder only for a suite run (for ``compare`` it is a file): checked in ``_run_suite``
OUTPUT_DIRS: tuple[str, ...] = ()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a paper-table suite cell by cell (masks → train → eval → diff against the paper), "
        "or: `list` the suites, `validate [NAME...]` them, `report RUN_DIR` to rebuild a run's report, "
        "`status RUN_DIR` for the jobs of a run started with --launcher, "
        "`compare RUN_A RUN_B [...]` for runs side by side with the paper, `design RUN_DIR` for the "
        "power analysis of a pilot run (seeds per claim for 80 % power)."
    )
    parser.add_argument(
        "target", metavar="NAME|list|validate|report|status|compare|design", help="a suite name or alias, or an action"
    )
    parser.add_argument(
        "args",
        nargs="*",
        metavar="ARG",
        help="validate: suite names; report/status/design: the run folder; compare: run folders",
    )
    parser.add_argument("--cells", help="comma-separated cells to run (their init_from cells are added)")
    parser.add_argument(
        "--resume", action="store_true", help="continue interrupted/failed training from its last checkpoint"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars (off a terminal they are plain lines every 30 s)"
    )
    parser.add_argument(
        "--keep-optimizer",
        action="store_true",
        help="keep each finished training's last.pt (optimizer state, 3x the model); default: final.pt only",
    )
    parser.add_argument("--force", action="store_true", help="re-run cells even when their stored result is current")
    parser.add_argument(
        "--shard", help="run only shard i/n of the cells (0-based i; a cell stays with its init_from cell)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its estimated cost; run nothing")
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="full-size steps with random weights per cell: VRAM and step time, no data needed",
    )
    parser.add_argument("--profile-steps", type=int, default=10, help="steps per cell for --random-init (default 10)")
    parser.add_argument(
        "--data-root", type=Path, default=None, help="dataset root (default: $REPRO_DATA_ROOT or ./data)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output root (default: $REPRO_RUNS or ./runs); compare: the file to write (default: stdout)",
    )
    parser.add_argument(
        "--format", choices=("md", "json"), default="md", help="compare: Markdown table or JSON (default: md)"
    )
    parser.add_argument(
        "--scale", default=None, help="full (paper sizes) or tiny (synthetic data, small models); default: the suite's"
    )
    parser.add_argument(
        "--variant",
        default=None,
        help="e.g. released_code: the released code's choices where it differs from the paper",
    )
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=None,
        help="score the authors' released checkpoints (a folder laid out as the release's checkpoints/) "
        "instead of training: every mapped row, both evaluators, paired claims, a diagnosis of each miss",
    )
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: CUDA when available)")
    parser.add_argument(
        "--budget-gib", type=float, default=24.0, help="VRAM budget per cell (default 24, RTX 4090; 0 = no check)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="exit 0 even when cells fail or miss their tolerance"
    )
    parser.add_argument(
        "--suites",
        type=Path,
        default=None,
        help="suites folder (default: $REPRO_SUITES, ./suites, or the source tree's)",
    )
    _launcher_arguments(parser)


def _launcher_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("launchers (one job per cell × seed; docs/cluster.md)")
    group.add_argument(
        "--launcher",
        choices=("local", "slurm"),
        default=None,
        help="local: --jobs N jobs at once here, one GPU each; slurm: submit with sbatch (submitit) and return",
    )
    group.add_argument("--jobs", type=int, default=1, help="--launcher local: jobs at once (default 1)")
    group.add_argument(
        "--gpus-per-cell",
        type=positive_int,
        default=1,
        help="train each cell on N ranks with DDP (one GPU each; gloo processes on CPU), the global batch "
        "unchanged; slurm: --gpus-per-task defaults to N (default 1)",
    )
    group.add_argument("--partition", help="slurm: partition")
    group.add_argument("--gpus-per-task", type=int, default=None, help="slurm: GPUs per job")
    group.add_argument("--cpus-per-task", type=int, default=None, help="slurm: CPUs per job")
    group.add_argument("--mem", default=None, help="slurm: memory per job (sbatch syntax, e.g. 64G)")
    group.add_argument("--time", default="1-00:00:00", help="slurm: time limit per job (default 1-00:00:00)")
    group.add_argument("--account", default=None, help="slurm: account to charge")
    group.add_argument("--qos", default=None, help="slurm: quality of service")
    group.add_argument(
        "--slurm-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="slurm: any other sbatch option, e.g. constraint=a100 (repeatable; KEY alone for a flag)",
    )
    group.add_argument(
        "--signal-delay", type=int, default=120, help="slurm: seconds of warning before the time limit (default 120)"
    )
    group.add_argument("--container-image", default=None, help="slurm: run each job in this image (.sif or pyxis name)")
    group.add_argument(
        "--container-runtime", choices=("apptainer", "pyxis"), default="apptainer", help="slurm: how (default apptainer)"
    )


def _env_path(value: Path | None, var: str, default: str) -> Path:
    import os

    return value if value is not None else Path(os.environ.get(var) or default)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from repro.suite import schema

    if args.target == "report":
        return _report(args)
    if args.target == "status":
        return _status(args)
    if args.target == "compare":
        return _compare(args)
    if args.target == "design":
        return _design(args)
    directory = schema.suites_dir(args.suites)
    if args.target == "list":
        return _list(directory)
    if args.target == "validate":
        return _validate(directory, args.args)
    if args.args:
        raise UserError(f"unexpected arguments after the suite name: {' '.join(args.args)}")
    return _run_suite(directory, args)


def _list(directory: Path) -> int:
    from repro.suite.schema import iter_suite_files, load_suite

    rows = []
    for path in iter_suite_files(directory):
        suite = load_suite(path)
        kinds = [c.kind for c in suite.cells.values()]
        rows.append(
            [
                suite.name,
                ", ".join(suite.aliases),
                suite.title,
                kinds.count("train"),
                kinds.count("eval_only"),
                kinds.count("cited"),
                "yes" if suite.expected_path else "no",
            ]
        )
    print(tabulate(rows, ["suite", "aliases", "title", "train", "eval-only", "cited", "expected"], tablefmt="simple"))
    return 0


def _load(path: Path, scale: str | None = None, variant: str | None = None):  # type: ignore[no-untyped-def]
    from repro.suite.launchers.jobs import load_suite_and_expected

    return load_suite_and_expected(path, scale, variant)


def _validate(directory: Path, names: list[str]) -> int:
    """Every scale and variant of each suite, and its expected file; all errors, not just the first."""
    from repro.config import load_config
    from repro.suite.power import form_warnings, tolerance_warnings
    from repro.suite.released import load_section
    from repro.suite.schema import find_suite, iter_suite_files

    paths = [find_suite(n, directory) for n in names] if names else list(iter_suite_files(directory))
    failures = 0
    for path in paths:
        raw = load_config(path) if path.is_file() else {}
        combos = [(s, None) for s in ["full", *(raw.get("scales") or {})]] + [
            (None, v) for v in (raw.get("variants") or {})
        ]
        try:
            warnings: list[str] = []
            for scale, variant in combos:
                suite, expected = _load(path, scale, variant)
                load_section(suite)  # the released_checkpoints: mapping, if any
                if expected is not None and scale == "full":
                    warnings += [w for w in form_warnings(suite, expected) if w not in warnings]
            if expected is not None:
                warnings += tolerance_warnings(expected)
            note = "" if expected else " (no expected file)"
            print(f"ok   {path}: {len(suite.cells)} cells, scales/variants checked: {len(combos)}{note}")
            for w in warnings:
                print(f"warn   {w}")
        except ConfigError as exc:
            failures += 1
            print(f"FAIL {exc}")
    return 1 if failures else 0


def _run_dir_arg(args: argparse.Namespace, usage: str) -> Path:
    """The one run folder an action takes (``report``, ``status``, ``design``)."""
    if len(args.args) != 1:
        raise UserError(f"usage: repro suite {usage}")
    return Path(args.args[0])


def _report(args: argparse.Namespace) -> int:
    from repro.suite.report import render_terminal, write_reports

    run_dir = _run_dir_arg(args, "report RUN_DIR")
    if (run_dir / "jobs.json").is_file():  # launched: assemble the cells' results from their seed records first
        from repro.suite.launchers.jobs import finish_run, spec_of_run

        report = finish_run(spec_of_run(run_dir))
    else:
        report = write_reports(run_dir)
    print(render_terminal(report), end="")
    return 0 if report.passed or args.report_only else 1


def _compare(args: argparse.Namespace) -> int:
    from repro.atomic import json_text, write_text
    from repro.suite.compare import compare_json, compare_runs, render_markdown

    run_dirs = [Path(a) for a in args.args]
    reports, rows = compare_runs(run_dirs)
    if args.format == "json":
        text = json_text(compare_json(run_dirs, reports, rows))
    else:
        text = render_markdown(run_dirs, reports, rows)
    if args.out is None:
        print(text, end="")
    else:
        write_text(args.out, text)
        _say(f"compare: wrote {args.out}")
    return 0


def _design(args: argparse.Namespace) -> int:
    """The power analysis of a pilot run: seeds per claim and cell, margins (repro.suite.design)."""
    from repro.atomic import write_text
    from repro.config import dump_yaml
    from repro.suite.design import design_from_run, render

    run_dir = _run_dir_arg(args, "design PILOT_RUN_DIR")
    design = design_from_run(run_dir)
    write_text(run_dir / "design.yaml", dump_yaml(design))
    print(render(design), end="")
    print(f"written: {run_dir / 'design.yaml'} (freeze its seeds and margins into the suite and expected files)")
    return 0


def _status(args: argparse.Namespace) -> int:
    from repro.suite.status import render

    run_dir = _run_dir_arg(args, "status RUN_DIR")
    if not (run_dir / "jobs.json").is_file():
        raise UserError(f"{run_dir}: no jobs.json (status is for runs started with --launcher local or slurm)")
    print(render(run_dir), end="")
    return 0


def _launch(runner, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """--launcher local (wait, then report) or slurm (submit and return)."""
    from repro.suite.launchers.jobs import LaunchSpec
    from repro.suite.report import render_terminal

    spec = LaunchSpec.of(runner.suite, runner.options)
    if args.launcher == "local":
        from repro.suite.launchers import local

        report = local.run(spec, args.jobs, progress=_say)
        print(render_terminal(report), end="")
        _say(f"report: {runner.run_dir / 'report.md'} (also .html, .txt, .json, .png)")
        return 0 if report.passed_for([c.name for c in runner.selected()]) or args.report_only else 1
    from repro.suite.launchers import slurm

    settings = slurm.SlurmSettings(
        partition=args.partition,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task,
        mem=args.mem,
        time_min=slurm.parse_time(args.time),
        account=args.account,
        qos=args.qos,
        extra=slurm.parse_slurm_args(args.slurm_arg),
        signal_delay_s=args.signal_delay,
        container_image=args.container_image,
        container_runtime=args.container_runtime,
    )
    slurm.submit(spec, settings, progress=_say)
    _say(f"submitted; `repro suite status {runner.run_dir}` shows the jobs, the report job writes report.md")
    return 0


def _run_suite(directory: Path, args: argparse.Namespace) -> int:
    from repro.cli.args import parse_shard
    from repro.suite.executor import ReproExecutor
    from repro.suite.runner import RunOptions, SuiteRunner
    from repro.suite.schema import find_suite

    suite, expected = _load(find_suite(args.target, directory), args.scale, args.variant)
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.out is not None:
        from repro.preflight import check_output_dir

        check_output_dir(args.out, "--out")
    options = RunOptions(
        out=_env_path(args.out, "REPRO_RUNS", "runs"),
        data_root=_env_path(args.data_root, "REPRO_DATA_ROOT", "data"),
        cells=[c.strip() for c in args.cells.split(",") if c.strip()] if args.cells else None,
        shard=shard,
        resume=args.resume,
        force=args.force,
        device=args.device,
        gpus_per_cell=args.gpus_per_cell,
        budget_gib=args.budget_gib,
        profile_steps=args.profile_steps,
        keep_optimizer=args.keep_optimizer,
        progress=not args.no_progress,
    )
    released = None
    if args.checkpoints is not None:
        from repro.suite import released

        if args.random_init:
            raise UserError("--checkpoints evaluates trained files: --random-init does not apply")
        runner: SuiteRunner = released.ReleasedRunner(released.plan(suite, args.checkpoints), options, expected)
    else:
        runner = SuiteRunner(suite, ReproExecutor(), options, expected)
    selected = [c.name for c in runner.selected()]
    if args.dry_run:
        from repro.suite.plan import render_plan

        print(render_plan(runner))
        return 0
    from repro.suite.lock import run_folder

    with run_folder(runner.run_dir, f"repro suite {args.target}") as notes:
        for note in notes:
            _say(f"repro suite: note: {note}")
        return _run_locked(runner, args, released, selected, expected)


def _run_locked(runner, args: argparse.Namespace, released, selected: list[str], expected) -> int:  # type: ignore[no-untyped-def]
    """The run itself, while this process owns the run folder."""
    from repro.suite.report import render_terminal, write_reports

    if not args.random_init:
        _require_data(runner.selected(), runner.options.data_root)
    logging.getLogger("repro").addHandler(logging.StreamHandler(sys.stderr))
    logging.getLogger("repro").setLevel(logging.WARNING)
    if args.launcher and not args.random_init:
        return _launch(runner, args)
    if args.random_init:
        runner.write_suite_json()
        runner.profile(progress=_say)
    else:
        runner.run(progress=_say)
    report = write_reports(runner.run_dir)
    print(render_terminal(report), end="")
    if released is not None:
        assert isinstance(runner, released.ReleasedRunner)
        print(released.write(runner.run_dir, released.build(runner.run_dir, runner.plan, expected)), end="")
        _say(f"released checkpoints: {runner.run_dir / 'released.md'} (also .txt, .json)")
    _say(f"report: {runner.run_dir / 'report.md'} (also .html, .txt, .json, .png)")
    return 0 if report.passed_for(selected) or args.report_only else 1


def _require_data(cells, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    """Stop before the first cell when real data is missing: one message, every gap, its prepare command."""
    from repro.data.requirements import require_data

    needs = [
        (ref, f"cell {cell.name}")
        for cell in cells
        if cell.kind != "cited" and cell.synthetic is None
        for ref in cell.datasets()
    ]
    require_data(needs, data_root)

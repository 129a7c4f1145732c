"""`netc train`, `netc eval` and `netc lesion`."""
from __future__ import annotations

import shlex
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click

from ..backends import DEFAULT_BACKEND, available
from .options import SET, overrides

RECIPE_FLAGS = [  # (flag, recipe field, click type, help)
    ("--data", "data", str, "digits | cifar10:DIR | cifar100:DIR | imagefolder:DIR | synthetic "
                            "| shapes | segfolder:DIR"),
    ("--epochs", "epochs", int, None), ("--batch-size", "batch_size", int, "Global batch size."),
    ("--optimizer", "optimizer", click.Choice(["sgd", "adamw"]), None),
    ("--lr", "lr", float, None), ("--momentum", "momentum", float, None),
    ("--weight-decay", "weight_decay", float, None),
    ("--schedule", "schedule", click.Choice(["constant", "step", "cosine", "onecycle"]), None),
    ("--warmup-epochs", "warmup_epochs", float, None),
    ("--label-smoothing", "label_smoothing", float, None), ("--seed", "seed", int, None),
    ("--device", "device", click.Choice(["auto", "cpu", "cuda"]), None),
    ("--precision", "precision", click.Choice(["fp32", "bf16", "fp16"]), "Autocast precision."),
    ("--threads", "threads", int, "CPU threads per process (0: the framework's default)."),
    ("--ema", "ema", float, "Keep an average of the weights with this decay per step (e.g. "
                            "0.999), scored each epoch and saved beside them (0: none)."),
    ("--patience", "patience", int, "Stop after N epochs without a better validation score "
                                    "(0: never)."),
    ("--init-weights", "init_weights", click.Path(exists=True),
     "Start from a weight file (.pth, .pt, .weights.h5, .h5) or a run folder, matched by IR "
     "name and shape; the head may differ (see transfer.json in the run)."),
    ("--freeze", "freeze", str, "Hold these nodes fixed, batch norms in inference mode: "
                                "comma-separated globs over IR names, e.g. 'conv1,bn1,layer1'."),
    ("--unfreeze-at", "unfreeze_epoch", int, "Release --freeze after this many epochs."),
    ("--lr-groups", "lr_groups", str, "Learning-rate factors per node glob, e.g. "
                                      "'layer4=0.1x,fc=10x'."),
]
SWITCHES = [("nesterov", "Nesterov momentum."), ("channels-last", "channels_last memory format."),
            ("compile", "torch.compile the model."), ("augment", "Random crop and flip."),
            ("no-decay-on-norm-and-bias", "Exempt norms and biases from weight decay."),
            ("init-partial", "Let --init-weights shapes differ beyond the head.")]


def recipe_options(fn):
    for flag, field, kind, help_text in reversed(RECIPE_FLAGS):
        fn = click.option(flag, field, type=kind, default=None, help=help_text)(fn)
    for name, help_text in reversed(SWITCHES):
        field = name.replace("-", "_")
        fn = click.option(f"--{name}/--no-{name}", field, default=None, help=help_text)(fn)
    return fn


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@SET
@click.option("--backend", type=click.Choice(sorted(available())), default=DEFAULT_BACKEND,
              show_default=True)
@click.option("--recipe", "recipe_path", type=click.Path(exists=True, dir_okay=False),
              help="A recipe YAML file; flags override it.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default: runs/NAME-TIME).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False),
              help="Continue this run with its recipe; --epochs extends it, --device, "
                   "--threads, --compile and --channels-last change how it runs; other changes "
                   "are refused.")
@click.option("--nproc-per-node", type=click.IntRange(min=1),
              help="Train with N processes (torchrun, DDP).")
@click.option("--nnodes", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--rdzv-endpoint", help="HOST:PORT of the rendezvous, for several machines.")
@recipe_options
def train(spec, sets, backend, recipe_path, out, resume, nproc_per_node, nnodes, rdzv_endpoint,
          **flags):
    """Train SPEC; writes a run folder with metrics, checkpoints and curves."""
    from .. import load
    from ..runs import model_source
    from ..train import load_recipe, trainer_for
    from ..train.run_folder import RunFolder

    given = {key: value for key, value in flags.items() if value is not None}
    trainer = trainer_for(backend)
    if resume:
        _check_resume(RunFolder(resume), backend, recipe_path, out)
    again = _resume_command(spec, sets, backend, resume or out, nproc_per_node,
                            given if resume else {})
    if nproc_per_node and not trainer.launched():
        with _interruptible(trainer, again, resume or out):
            code = trainer.launch([sys.executable, "-m", "netc", *sys.argv[1:]],
                                  nproc_per_node, nnodes, rdzv_endpoint)
        sys.exit(code)
    graph = load(spec, overrides(sets))
    source = model_source(graph, Path(spec).read_text(encoding="utf-8"), backend)
    _note_missing_matplotlib()
    _note_missing_tensorboard()
    if resume:
        with _interruptible(trainer, again, resume):
            result = trainer.resume(RunFolder(resume), source, given)
    else:
        recipe = load_recipe(recipe_path, given, source.input_shape)
        made = out is None and trainer.writes_folder()
        run = RunFolder.fresh(source.name) if made else RunFolder(out) if out else None
        if made:
            again = _resume_command(spec, sets, backend, run, nproc_per_node, {})
        with _interruptible(trainer, again, run), \
                (run.discarded_on_failure() if made else nullcontext()):
            result = trainer.start(source, recipe, run)
    if result.run_dir:
        click.echo(f"run folder: {result.run_dir}")


def _check_resume(run, backend: str, recipe_path, out) -> None:
    """Refuse what --resume cannot honour before any work is done."""
    from ..train import TrainError

    if recipe_path or out:
        raise TrainError(f"--resume continues {run} in its folder with its saved recipe; "
                         f"{'--recipe' if recipe_path else '--out'} cannot go with it",
                         hint="--epochs N extends the run")
    run.check_backend(backend)


def _resume_command(spec, sets, backend, run_dir, nproc_per_node, given) -> str | None:
    """The exact command that continues this run, printed when it is interrupted. ``given``:
    the settings a resume applied (a new run's are in its saved recipe already)."""
    from ..train.resume_plan import CHANGEABLE

    if run_dir is None:
        return None
    argv = ["netc", "train", str(spec)]
    for assignment in sets:
        argv += ["--set", assignment]
    if backend != DEFAULT_BACKEND:
        argv += ["--backend", backend]
    if nproc_per_node:
        argv += ["--nproc-per-node", str(nproc_per_node)]
    argv += ["--resume", str(run_dir)]
    for flag, field, _, _ in RECIPE_FLAGS:
        if field in CHANGEABLE and field in given:
            argv += [flag, str(given[field])]
    for name, _ in SWITCHES:
        field = name.replace("-", "_")
        if field in CHANGEABLE and field in given:
            argv.append(f"--{name}" if given[field] else f"--no-{name}")
    return shlex.join(argv)


@contextmanager
def _interruptible(trainer, again: str | None, run_dir):
    """Ctrl-C ends the run without a traceback and says how to continue it (exit 130, the
    shell's code for SIGINT). Checkpoints are written atomically, so the last one is whole."""
    from ..train.run_folder import RunFolder

    try:
        yield
    except KeyboardInterrupt:
        if not trainer.reports_interrupts():
            sys.exit(130)
        if run_dir is not None and RunFolder(run_dir).existing_checkpoint() is not None:
            click.echo(f"\ninterrupted; the last checkpoint in {run_dir} is intact. Resume "
                       f"with:\n  {again}", err=True)
        else:
            click.echo("\ninterrupted before the first checkpoint; there is nothing to resume",
                       err=True)
        sys.exit(130)


@click.command(name="eval")
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", help="Data source (default: what the run trained on).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test",
              show_default=True, help="train and val: the parts the run's recipe made of the "
                                      "training images; each split's report has its own file.")
@click.option("--spec", type=click.Path(exists=True, dir_okay=False), help="Spec, if not the run's.")
@click.option("--device", default="auto", show_default=True)
@click.option("--ema", is_flag=True, help="Score the checkpoint's average of the weights (a run "
                                          "trained with --ema); its report ends in -ema.")
def evaluate(run, data, split, spec, device, ema):
    """Accuracy, loss and a confusion matrix (PNG) of a run folder or checkpoint. A folder
    means its best checkpoint (best on the validation split), else its last."""
    from ..train.reports import report_stem, write_evaluation

    run_dir, checkpoint, source, trainer = _trained(run, spec)
    result = trainer.evaluate(checkpoint, source, data, split, device=device, ema=ema)
    written = write_evaluation(result, run_dir, report_stem(split) + ("-ema" if ema else ""))
    best = Path(checkpoint).name.startswith("best.")
    chosen = " (best validation accuracy)" if best else ""
    weights = "the average of the weights of " if ema else ""
    click.echo(f"{weights}checkpoint {checkpoint}: epoch {result.epoch} of {result.epochs}"
               f"{chosen}")
    click.echo(f"{result.data} {split}: accuracy {100 * result.accuracy:.2f}% "
               f"loss {result.loss:.4f} over {result.count} images")
    _echo_written(*written)


@click.command()
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", help="Data source (default: what the run trained on).")
@click.option("--spec", type=click.Path(exists=True, dir_okay=False), help="Spec, if not the run's.")
@click.option("--max-deleted", type=int, help="Delete up to K blocks at a time (default: all).")
@click.option("--samples", type=int, default=10, show_default=True, help="Random sets per K.")
@click.option("--seed", type=int, default=0, show_default=True)
def lesion(run, data, spec, max_deleted, samples, seed):
    """Delete residual blocks at test time and report accuracy (Veit et al. 2016)."""
    from ..train.reports import write_lesion_report

    run_dir, checkpoint, source, trainer = _trained(run, spec)
    report = trainer.lesion(checkpoint, source, data, samples=samples, seed=seed,
                            max_deleted=max_deleted)
    click.echo(f"baseline accuracy {100 * report['baseline']:.2f}% over "
               f"{len(report['blocks'])} blocks")
    for row in report["random"]:
        click.echo(f"  {row['deleted']:3d} deleted: mean {100 * row['mean']:.2f}%")
    _echo_written(*write_lesion_report(report, run_dir))


def _note_missing_matplotlib() -> None:
    from ..train.plots import NO_MATPLOTLIB, can_plot

    if not can_plot():
        click.echo(f"note: {NO_MATPLOTLIB}", err=True)


def _note_missing_tensorboard() -> None:
    from ..train.run_logs import NO_TENSORBOARD, can_write_events

    if not can_write_events():
        click.echo(f"note: {NO_TENSORBOARD}", err=True)


def _echo_written(json_path: Path, png_path: Path | None) -> None:
    click.echo(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    if png_path is None:
        _note_missing_matplotlib()


def _trained(run, spec):
    """(run folder, checkpoint, model source, trainer) of a run folder or checkpoint: a folder
    means its best checkpoint (best on the validation split), else its last. The network is the
    folder's own IR unless ``spec`` names another."""
    from .. import load
    from ..runs import model_source, run_graph
    from ..train import TrainError, trainer_for
    from ..train.run_folder import RunFolder

    path = Path(run)
    if path.is_file() and not spec and path.parent.name != RunFolder.CHECKPOINTS:
        raise TrainError(f"{path} is a file but not a checkpoint of a run folder; expected a run "
                         f"folder or a checkpoint in its {RunFolder.CHECKPOINTS}/ folder",
                         hint=f"give the run folder ({path.parent}?) or one of its "
                              "checkpoints; a checkpoint kept elsewhere needs --spec")
    folder = RunFolder(path if path.is_dir() else path.parent.parent)
    checkpoint = path if path.is_file() else (folder.existing_checkpoint("best")
                                              or folder.existing_checkpoint("last"))
    if checkpoint is None:
        raise TrainError(f"{path} holds no checkpoint", hint="is it a netc run folder?")
    if spec:
        graph, text = load(spec), Path(spec).read_text(encoding="utf-8")
    else:
        graph, text = run_graph(folder.path)
    source = model_source(graph, text, folder.backend() or DEFAULT_BACKEND)
    return folder.path, checkpoint, source, trainer_for(source.backend)

"""`netc train`, `netc eval` and `netc lesion`."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from ..cli import SET, _overrides, main

RECIPE_FLAGS = [  # (flag, recipe field, click type, help)
    ("--data", "data", str, "digits | cifar10:DIR | cifar100:DIR | imagefolder:DIR | synthetic"),
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
]
SWITCHES = [("nesterov", "Nesterov momentum."), ("channels-last", "channels_last memory format."),
            ("compile", "torch.compile the model."), ("augment", "Random crop and flip."),
            ("no-decay-on-norm-and-bias", "Exempt norms and biases from weight decay.")]


def recipe_options(fn):
    for flag, _, kind, help_text in reversed(RECIPE_FLAGS):
        fn = click.option(flag, type=kind, default=None, help=help_text)(fn)
    for name, help_text in reversed(SWITCHES):
        field = name.replace("-", "_")
        fn = click.option(f"--{name}/--no-{name}", field, default=None, help=help_text)(fn)
    return fn


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@SET
@click.option("--backend", type=click.Choice(["torch", "keras"]), default="torch", show_default=True)
@click.option("--recipe", "recipe_path", type=click.Path(exists=True, dir_okay=False),
              help="A recipe YAML file; flags override it.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default: runs/NAME-TIME).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), help="Continue this run.")
@click.option("--nproc-per-node", type=int, help="Train with N processes (torchrun, DDP).")
@click.option("--nnodes", type=int, default=1, show_default=True)
@click.option("--rdzv-endpoint", help="HOST:PORT of the rendezvous, for several machines.")
@recipe_options
def train(spec, sets, backend, recipe_path, out, resume, nproc_per_node, nnodes, rdzv_endpoint,
          **flags):
    """Train SPEC; writes a run folder with metrics, checkpoints and curves."""
    from .. import load
    from .. import runs
    from ..train import inside_torchrun, launch, load_recipe

    if nproc_per_node and not inside_torchrun():
        if backend != "torch":
            raise click.UsageError("--nproc-per-node runs torch DDP; the Keras backend uses "
                                   "tf.distribute on the GPUs it finds")
        code = launch([sys.executable, "-m", "netc.cli", *sys.argv[1:]], nproc_per_node, nnodes,
                      rdzv_endpoint)
        sys.exit(code)
    graph = load(spec, _overrides(sets))
    source = runs.model_source(graph, Path(spec).read_text(encoding="utf-8"), backend)
    _note_missing_matplotlib()
    if resume:
        result = _trainer(backend, "resume")(resume, source, *([graph] if backend == "keras" else []))
    else:
        recipe = load_recipe(recipe_path, {k: v for k, v in flags.items() if v is not None})
        result = _start(backend, source, graph, recipe, out)
    if result is not None and getattr(result, "run_dir", None):
        click.echo(f"run folder: {result.run_dir}")


def _start(backend, source, graph, recipe, out):
    from .. import runs
    from ..train import inside_torchrun
    from ..train import rundir

    made = out is None and not inside_torchrun()
    if made:
        out = rundir.create_run_dir(source.name)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        runs.write_ir(Path(out), graph)
    args = (source, graph, recipe, out) if backend == "keras" else (source, recipe, out)
    try:
        return _trainer(backend, "train")(*args)
    except Exception:
        if made and not (Path(out) / rundir.METRICS_FILE).exists():
            shutil.rmtree(out, ignore_errors=True)  # a run that never started leaves no folder
        raise


def _trainer(backend: str, what: str):
    if backend == "keras":
        from ..train import keras_trainer

        return getattr(keras_trainer, f"{what}_keras")
    from .. import train as training

    return getattr(training, what)


@main.command(name="eval")
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", help="Data source (default: what the run trained on).")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--spec", type=click.Path(exists=True, dir_okay=False), help="Spec, if not the run's.")
@click.option("--device", default="auto", show_default=True)
def evaluate(run, data, split, spec, device):
    """Accuracy, loss and a confusion matrix (PNG) of a run folder or checkpoint."""
    from ..train import evaluate_checkpoint, write_evaluation

    run_dir, checkpoint, source, _ = _trained(run, spec)
    result = evaluate_checkpoint(checkpoint, source, data, split, device=device)
    written = write_evaluation(result, run_dir)
    click.echo(f"{result.data} {split}: accuracy {100 * result.accuracy:.2f}% "
               f"loss {result.loss:.4f} over {result.count} images")
    _echo_written(*written)


@main.command()
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", help="Data source (default: what the run trained on).")
@click.option("--spec", type=click.Path(exists=True, dir_okay=False), help="Spec, if not the run's.")
@click.option("--max-deleted", type=int, help="Delete up to K blocks at a time (default: all).")
@click.option("--samples", type=int, default=10, show_default=True, help="Random sets per K.")
@click.option("--seed", type=int, default=0, show_default=True)
def lesion(run, data, spec, max_deleted, samples, seed):
    """Delete residual blocks at test time and report accuracy (Veit et al. 2016)."""
    from ..runs import lesion_builder
    from ..train import load_model
    from ..train.lesion import lesion_checkpoint, write_lesion_report

    run_dir, checkpoint, source, graph = _trained(run, spec)
    trained, _ = load_model(checkpoint, source)
    blocks, lesioned = lesion_builder(graph, trained.state_dict())
    report = lesion_checkpoint(checkpoint, source, data, blocks=blocks, lesion=lesioned,
                               samples=samples, seed=seed, max_deleted=max_deleted)
    click.echo(f"baseline accuracy {100 * report['baseline']:.2f}% over {len(blocks)} blocks")
    for row in report["random"]:
        click.echo(f"  {row['deleted']:3d} deleted: mean {100 * row['mean']:.2f}%")
    _echo_written(*write_lesion_report(report, run_dir))


def _note_missing_matplotlib() -> None:
    from ..train.plots import NO_MATPLOTLIB, can_plot

    if not can_plot():
        click.echo(f"note: {NO_MATPLOTLIB}", err=True)


def _echo_written(json_path: Path, png_path: Path | None) -> None:
    click.echo(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    if png_path is None:
        _note_missing_matplotlib()


def _trained(run, spec):
    from .. import load, runs

    run_dir, checkpoint = runs.locate(run)
    if spec:
        graph, text = load(spec), Path(spec).read_text(encoding="utf-8")
    else:
        graph, text = runs.run_graph(run_dir)
    return run_dir, checkpoint, runs.model_source(graph, text), graph

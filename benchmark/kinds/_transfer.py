"""Starting a CNN from a finished run's trained weights (``--init-from RUN_DIR``): fine-tuning, e.g. a FER2013 CNN
on CK+'s folds.

The source run is read and checked like any run the report uses (its record's files agree, its model file's
SHA-256 is the recorded one), must be a run of the same architecture with one saved model (an official-split run),
and its weights must never have seen an image this run scores (its test images, and a ``--test-dataset``'s
target): every image of the source's data outside its test part (from its verified ``splits.csv``) is compared,
pixel for pixel, with them, on the source's own data loaded and fingerprinted as the source recorded it; and so
for every run the weights came through before (a source that itself started from a run). The weights are copied
layer by layer; where the classes differ (CK+ has contempt and no neutral), the classifier layer keeps its fresh
initialisation. The source's run id and weights hash are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import load_dataset
from ..errors import FerBenchError, exception_text
from ..options import DATA_KEYS, RECORDED_EXTRAS, options_hash
from ..protocols import copies_in
from ..record import Broken, Run, check_identity, check_parts, read_run, runs_inside
from ..saved_models import verified_model_path


@dataclass(frozen=True)
class Source:
    """The finished run a CNN starts from."""

    run_id: str
    path: Path
    model_file: str
    sha256: str
    dataset: str
    class_names: tuple[str, ...]
    #: its record, as read and verified (what it trained on is checked from it, never re-read)
    run: Run = field(compare=False, repr=False)

    def summary(self, classifier: str) -> dict:
        """What manifest.json records of it (``classifier``: kept, or re-initialised and why), with its seed and its
        experiment's seed-free fingerprint (:func:`experiment_of`): runs whose seeds each started from the same
        seed's run of one source experiment (a suite's pretraining block with several seeds) are the seeds of one
        experiment, which the report can tell only from these."""
        return {"run_id": self.run_id, "path": str(self.path), "model_file": self.model_file, "sha256": self.sha256,
                "dataset": self.dataset, "class_names": list(self.class_names), "classifier": classifier,
                "seed": self.run.metrics.get("seed"), "experiment": experiment_of(self.run.config)}


def experiment_of(config: dict) -> str:
    """A fingerprint of the experiment a run's config.json describes: the options that change its numbers, without
    the seed (the seeds of one experiment share it; any other option, or other starting weights, changes it)."""
    return options_hash(config, leave_out=(*RECORDED_EXTRAS, "seed"))


def read_source(folder: str, model: str, model_file_of) -> Source:
    """The run at ``folder`` as a source for ``model``; anything that makes it unusable is a FerBenchError (exit 2)
    naming the folder. ``model_file_of(fold, n_folds)`` names a fold's model file (the kind's)."""
    path = Path(folder).expanduser()
    where = f"--init-from {folder}"
    if not str(folder).strip():
        raise FerBenchError("--init-from needs a run folder (reports/runs/<run id>), got an empty path")
    if path.is_file():
        raise FerBenchError(f"{where}: a file; give the run folder that holds it ({path.parent})")
    if not path.is_dir():
        raise FerBenchError(f"{where}: no such run folder")
    try:
        run = read_run(path)
    except Broken as exc:
        raise FerBenchError(f"{where}: not a complete run ({exc}){runs_inside(path)}") from None
    except Exception as exc:  # a damaged folder
        raise FerBenchError(f"{where}: unreadable run ({exception_text(exc)})") from None
    problem = check_identity(run) or check_parts(run)
    if problem is not None:
        raise FerBenchError(f"{where}: its files disagree ({problem}); not starting from it")
    if run.metrics["model"] != model:
        raise FerBenchError(f"{where}: a {run.metrics['model']} run; {model} can only start from a {model} run (the "
                            f"same architecture)")
    if run.has_source_part:
        raise FerBenchError(f"{where}: a cross-dataset run; start from a run scored on its own dataset")
    folds = run.model_folds()
    if len(folds) != 1:
        raise FerBenchError(f"{where}: the run has {len(folds)} fold models; start from a run with one model (an "
                            f"official-split run, such as FER2013's)")
    name = model_file_of(folds[0], 1)
    verified_model_path(path, name)  # the file is the one the run recorded
    return Source(run.run_id, path.resolve(), name, run.manifest["model_files"][name], run.dataset,
                  tuple(run.model_class_names()), run)


def check_unseen(source: Source, scored: list[tuple], model_file_of) -> None:
    """Refuse (FerBenchError) when the weights of ``source`` saw any image this run scores: ``scored`` lists
    (dataset, indices, what they are: "test images of this run"). Checked against every run the weights came
    through (:func:`lineage`): what any of them trained or selected on (:func:`seen_images`)."""
    for ancestor in lineage(source, model_file_of):
        seen = seen_images(ancestor, source)
        how = "the source run" if ancestor is source else f"the run its weights started from before, {ancestor.run_id},"
        for dataset, tested, what in scored:
            tested = np.asarray(tested)
            overlap = [int(i) for i in tested[copies_in(dataset.images[tested], seen)]]
            if overlap:
                raise FerBenchError(f"--init-from {source.path}: {how} trained or validated on {len(overlap)} of "
                                    f"the {len(tested)} {what} (e.g. {dataset.sample_ids[overlap[0]]}); its weights "
                                    f"would have seen them. Start from a run on other data (or on a split that "
                                    f"keeps these images out)")


def lineage(source: Source, model_file_of) -> list[Source]:
    """``source`` and every run its weights came through before it (each one's manifest.json ``init_from``), each
    read and verified as a source (:func:`read_source`) and with the run id and weights hash its successor
    recorded; one that is gone or changed is refused: what its weights saw cannot be checked."""
    chain, current = [], source
    while current is not None and all(current.run_id != s.run_id for s in chain):
        chain.append(current)
        earlier = current.run.manifest.get("init_from") or None
        if earlier is None:
            break
        why = (f"--init-from {source.path}: {current.run_id} started from {earlier.get('run_id')} "
               f"({earlier.get('path')}), whose training images cannot be checked against this run's")
        try:
            current = read_source(str(earlier.get("path")), current.run.metrics["model"], model_file_of)
        except FerBenchError as exc:
            raise FerBenchError(f"{why}: {exc}") from None
        if (current.run_id, current.sha256) != (earlier.get("run_id"), earlier.get("sha256")):
            raise FerBenchError(f"{why}: that folder now holds run {current.run_id} with weights "
                                f"{current.sha256[:12]}, not the recorded {str(earlier.get('sha256'))[:12]}")
    return chain


def seen_images(source: Source, first: Source) -> np.ndarray:
    """The images ``source``'s run trained or selected on: every image of its data but those its
    verified ``splits.csv`` puts in its test part (whose rows ``check_parts`` matched with predictions.csv and
    manifest.json; an image it leaves out counts as seen). Its data is loaded as it recorded it and must have the
    fingerprint it recorded (``first``: the --init-from source, which errors name)."""
    where = f"--init-from {first.path}" + ("" if source is first else f" (through {source.run_id})")
    run = source.run
    options = {k: v for k, v in run.config.items() if k in DATA_KEYS and k not in ("dataset", "data_dir")}
    try:
        data = load_dataset(run.config["dataset"], run.config.get("data_dir"), **options)
    except FerBenchError as exc:
        hint = ("" if run.config.get("data_dir") else
                f"; the source read its default data folder (./data/{run.config['dataset']} where it ran, or under "
                f"$FER_BENCH_DATA): run this where the source ran, or set FER_BENCH_DATA to the folder holding its "
                f"data (--data-dir is this run's data, not the source's)")
        raise FerBenchError(f"{where}: cannot load the data the source run trained on, to check that it never saw "
                            f"the images this run scores ({exc}){hint}") from None
    if data.fingerprint != run.manifest["dataset"]["fingerprint"]:
        raise FerBenchError(f"{where}: the source run's data at {data.root or '(embedded)'} is not the data it "
                            f"trained on (fingerprint {data.fingerprint[:12]}, recorded "
                            f"{run.manifest['dataset']['fingerprint'][:12]}); cannot check that it never saw the "
                            f"images this run scores")
    parts = run.splits[run.part_column].astype(str)
    tested_only = set(run.splits.sample_id[parts == str(run.protocol.test_part)].astype(str))
    return data.images[[i for i, s in enumerate(data.sample_ids) if str(s) not in tested_only]]


def transfer(model, source_model, same_classes: bool) -> str:
    """Copy ``source_model``'s weights into ``model`` (same architecture), layer by layer; the classifier (the last
    layer with weights, which gives a score per class: a dense layer, or mini-Xception's last convolution) only
    where the classes are the same. Returns how the classifier was treated."""
    layers = [layer for layer in model.layers if layer.weights]
    sources = [layer for layer in source_model.layers if layer.weights]
    classifier = layers[-1] if layers else None
    if len(layers) != len(sources):
        raise FerBenchError(f"--init-from: the source model has {len(sources)} layers with weights, this one "
                            f"{len(layers)}; the architectures differ (a per-dataset variant?)")
    for layer, source in zip(layers, sources):
        if layer is classifier and not same_classes:
            continue
        shapes = [tuple(w.shape) for w in layer.get_weights()], [tuple(w.shape) for w in source.get_weights()]
        if shapes[0] != shapes[1]:
            raise FerBenchError(f"--init-from: layer {layer.name} has weights of shapes {shapes[0]}, the source's "
                                f"{shapes[1]}; the architectures differ")
        layer.set_weights(source.get_weights())
    return "kept" if same_classes else "re-initialised: the source's classes differ from this dataset's"

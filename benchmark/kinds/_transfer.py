"""Starting a CNN from a finished run's trained weights (``--init-from RUN_DIR``): fine-tuning, e.g. a FER2013 CNN
on CK+'s folds.

The source run is read and checked like any run the report uses (its record's files agree, its model file's
SHA-256 is the recorded one), must be a run of the same architecture with one saved model (an official-split run),
and must never have seen an image this run tests: every image it trained or validated on (``training_roles.csv``)
is compared, pixel for pixel, with this run's test images, on the source's own data loaded and fingerprinted as
the source recorded it. The weights are copied layer by layer; where the classes differ (CK+ has contempt and no
neutral), the classifier layer keeps its fresh initialisation. The source's run id and weights hash are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets import load_dataset
from ..errors import FerBenchError, exception_text
from ..options import DATA_KEYS
from ..protocols import copies_in
from ..record import TRAINING_ROLES, Broken, check_identity, check_parts, read_run
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

    def summary(self, classifier: str) -> dict:
        """What manifest.json records of it (``classifier``: kept, or re-initialised and why)."""
        return {"run_id": self.run_id, "path": str(self.path), "model_file": self.model_file, "sha256": self.sha256,
                "dataset": self.dataset, "class_names": list(self.class_names), "classifier": classifier}


def read_source(folder: str, model: str, model_file_of) -> Source:
    """The run at ``folder`` as a source for ``model``; anything that makes it unusable is a FerBenchError (exit 2)
    naming the folder. ``model_file_of(fold, n_folds)`` names a fold's model file (the kind's)."""
    path = Path(folder).expanduser()
    where = f"--init-from {folder}"
    if not path.is_dir():
        raise FerBenchError(f"{where}: no such run folder")
    try:
        run = read_run(path)
    except Broken as exc:
        raise FerBenchError(f"{where}: not a complete run ({exc})") from None
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
                  tuple(run.model_class_names()))


def check_unseen(source: Source, dataset, tested: np.ndarray) -> None:
    """Refuse (FerBenchError) when the source run trained or validated on any of ``dataset.images[tested]``: it
    would have seen this run's test images. The source's data is loaded as the source recorded it and must have
    the fingerprint it recorded."""
    run = read_run(source.path)
    options = {k: v for k, v in run.config.items() if k in DATA_KEYS and k not in ("dataset", "data_dir")}
    try:
        data = load_dataset(run.config["dataset"], run.config.get("data_dir"), **options)
    except FerBenchError as exc:
        raise FerBenchError(f"--init-from {source.path}: cannot load the data the source run trained on, to check "
                            f"that it never saw this run's test images ({exc})") from None
    if data.fingerprint != run.manifest["dataset"]["fingerprint"]:
        raise FerBenchError(f"--init-from {source.path}: the source run's data at {data.root or '(embedded)'} is not "
                            f"the data it trained on (fingerprint {data.fingerprint[:12]}, recorded "
                            f"{run.manifest['dataset']['fingerprint'][:12]}); cannot check that it never saw this "
                            f"run's test images")
    roles = pd.read_csv(source.path / TRAINING_ROLES, dtype=str)
    seen_ids = set(roles.sample_id)
    seen = data.images[[i for i, s in enumerate(data.sample_ids) if str(s) in seen_ids]]
    overlap = [int(i) for i in np.asarray(tested)[copies_in(dataset.images[tested], seen)]]
    if overlap:
        raise FerBenchError(f"--init-from {source.path}: the source run trained or validated on {len(overlap)} of "
                            f"this run's {len(tested)} test images (e.g. {dataset.sample_ids[overlap[0]]}); its "
                            f"weights would have seen them. Start from a run on other data (or on a split that "
                            f"keeps this run's test images out)")


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

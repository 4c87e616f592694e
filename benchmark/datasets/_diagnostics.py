"""What is odd about a loaded dataset, measured from its pixels, with one-line warnings for people.

FER copies circulate in many states: faces duplicated within and across the official splits (some with
different labels), blank frames, files silently resized, one split blurred (an image-folder copy of FER2013 has
every Training image blurred, and a CNN trained on it scores below chance on the sharp test images), a test split
made up at random. Accepted inputs like these are told, not hidden: :func:`diagnose` measures each of them in one
pass over the pixels (about 0.3 s for FER2013's 35,887 images) for ``fer-bench datasets``, every run's manifest
and the report. The result stays small (a few examples per finding) because every manifest carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._base import Dataset

#: Examples kept per finding, and ids shown per warning.
EXAMPLES, SHOWN = 5, 3
#: statistic -> (how two splits are compared, limit, name in warnings). A split is unlike the others when its
#: statistic is beyond the limit from the median of theirs. Measured on FER2013 (fer2013.csv): the official
#: splits agree within 2% in sharpness, 0.5% in std and 0.5 grey levels in mean; a Gaussian blur of sigma 0.7 on
#: one split divides its sharpness by 5 (sigma 1.2: by 23); the blurred folder copy has std 52 against 65.
SPLIT_LIMITS = {
    "sharpness": ("ratio", 2.0, "sharpness (mean variance of the Laplacian)"),
    "std": ("ratio", 1.15, "pixel standard deviation"),
    "mean": ("difference", 15.0, "mean pixel value"),
}
#: Duplicate findings: key in ``diagnostics["duplicates"]`` -> (counted noun, what a warning says of them).
GROUP_FINDINGS = {
    "all": ("group", "of pixel-identical images"),
    "cross_split": ("duplicate group", "spanning splits, the same face in training and test data"),
    "cross_subject": ("duplicate group", "spanning subjects, the same face under two subject ids"),
    "label_conflicts": ("duplicate group", "with conflicting labels"),
}
_CHUNK = 1024  # images per block, so the temporaries stay small


def diagnose(ds: Dataset) -> dict:
    """Skipped and converted inputs, duplicates, blank images, pixel statistics per split, and warnings.

    Blank (constant) images are reported once, as blank, and left out of the duplicate groups (they would
    otherwise all duplicate each other). Duplicates "span" splits or subjects where the dataset has them.
    """
    per_image = _per_image(ds.images)
    blank = np.flatnonzero(per_image["blank"])
    duplicates = _duplicate_groups(ds.images, ~per_image["blank"])
    groups = {"all": duplicates, "cross_split": _spanning(duplicates, ds.splits),
              "cross_subject": _spanning(duplicates, ds.subjects),
              "label_conflicts": _spanning(duplicates, ds.labels)}
    stats = _pixel_stats(ds, per_image)
    unlike = _unlike_splits(stats)
    return {
        "skipped": {"count": len(ds.skipped), "examples": [s["path"] for s in ds.skipped[:EXAMPLES]]},
        "converted": {"count": len(ds.converted), "examples": ds.converted[:EXAMPLES]},
        "duplicates": {key: None if g is None else _group_figures(ds, g) for key, g in groups.items()},
        "blank": {"count": len(blank), "examples": [{"id": str(ds.sample_ids[i]), "value": int(ds.images[i].flat[0])}
                                                     for i in blank[:EXAMPLES]]},
        "pixel_stats": stats,
        "unlike_splits": unlike,
        "warnings": _warnings(ds, groups, blank, unlike),
    }


def _per_image(images: np.ndarray) -> dict[str, np.ndarray]:
    """Each image's pixel mean and mean square, its sharpness and whether it is blank (constant).

    Sharpness is the variance of the 4-neighbour Laplacian over the interior pixels: blur removes the fine
    detail it responds to, so a blurred split scores a fraction of a sharp one.
    """
    n = len(images)
    out = {key: np.empty(n) for key in ("mean", "meansq", "sharpness")}
    out["blank"] = np.empty(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = slice(start, start + _CHUNK)
        x = images[block].astype(np.int16)
        lap = x[:, :-2, 1:-1] + x[:, 2:, 1:-1]
        lap += x[:, 1:-1, :-2]
        lap += x[:, 1:-1, 2:]
        lap -= 4 * x[:, 1:-1, 1:-1]
        lap_mean, lap_meansq = _row_moments(lap)
        out["sharpness"][block] = lap_meansq - lap_mean ** 2
        out["mean"][block], out["meansq"][block] = _row_moments(x)
        flat = images[block].reshape(len(x), -1)
        out["blank"][block] = flat.min(axis=1) == flat.max(axis=1)
    return out


def _row_moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean square of each image (first axis) of ``a``."""
    rows = a.reshape(len(a), -1).astype(np.float64)
    return rows.mean(axis=1), np.einsum("ij,ij->i", rows, rows) / rows.shape[1]


def _pixel_stats(ds: Dataset, per_image: dict[str, np.ndarray]) -> dict[str, dict]:
    """Image count, pixel mean and standard deviation (over all pixels) and mean sharpness: all images, each split."""
    masks = {"all": np.ones(len(ds), dtype=bool)}
    if ds.splits is not None:
        masks.update({str(split): ds.splits == split for split in dict.fromkeys(ds.splits)})
    stats = {}
    for name, mask in masks.items():
        mean = per_image["mean"][mask].mean()
        var = per_image["meansq"][mask].mean() - mean ** 2
        stats[name] = {"n": int(mask.sum()), "mean": round(float(mean), 2),
                       "std": round(float(np.sqrt(max(var, 0.0))), 2),
                       "sharpness": round(float(per_image["sharpness"][mask].mean()), 1)}
    return stats


def _unlike_splits(stats: dict[str, dict]) -> list[dict]:
    """Per statistic, the split farthest from the median of the other splits, where beyond :data:`SPLIT_LIMITS`."""
    splits = [s for s in stats if s != "all"]
    if len(splits) < 2:
        return []
    found = []
    for stat, (kind, limit, _) in SPLIT_LIMITS.items():
        distance = {s: _distance(kind, stats[s][stat], [stats[o][stat] for o in splits if o != s]) for s in splits}
        worst = max(splits, key=distance.get)
        if distance[worst] > (limit if kind == "difference" else np.log(limit)):
            found.append({"split": worst, "statistic": stat, "value": stats[worst][stat],
                          "others": {o: stats[o][stat] for o in splits if o != worst}})
    return found


def _distance(kind: str, value: float, others: list[float]) -> float:
    """How far ``value`` is from the median of ``others``: in grey levels, or as an absolute log ratio."""
    reference = float(np.median(others))
    if kind == "difference":
        return abs(value - reference)
    return abs(np.log(max(value, 1e-9) / max(reference, 1e-9)))


def _duplicate_groups(images: np.ndarray, candidates: np.ndarray) -> list[np.ndarray]:
    """Indices of each set of two or more pixel-identical images among ``candidates``, earliest group first.

    Rows are compared as raw bytes: one ``np.unique`` over a void view (a sort, no hashing), 0.05 s for FER2013.
    """
    index = np.flatnonzero(candidates)
    if len(index) < 2:
        return []
    rows = np.ascontiguousarray(images[index]).reshape(len(index), -1)
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    repeated = np.flatnonzero(counts[inverse] > 1)
    if len(repeated) == 0:
        return []
    repeated = repeated[np.argsort(inverse[repeated], kind="stable")]
    groups = np.split(index[repeated], np.cumsum(counts[counts > 1])[:-1])
    return sorted(groups, key=lambda g: g[0])


def _spanning(groups: list[np.ndarray], values: np.ndarray | None) -> list[np.ndarray] | None:
    """The groups whose members differ in ``values`` (splits, subjects, labels); None where there are none."""
    if values is None:
        return None
    return [g for g in groups if len(set(values[g].tolist())) > 1]


def _group_figures(ds: Dataset, groups: list[np.ndarray]) -> dict:
    """Number of groups, images in them, and the first few groups as examples."""
    return {"groups": len(groups), "images": int(sum(len(g) for g in groups)),
            "examples": [_group_example(ds, g) for g in groups[:EXAMPLES]]}


def _group_example(ds: Dataset, group: np.ndarray) -> dict:
    """One group, compactly: its size, its first ids, and the labels, splits and subjects it holds."""
    example = {"size": len(group), "ids": ds.sample_ids[group[:EXAMPLES]].tolist(),
               "labels": _distinct(np.asarray(ds.class_names)[ds.labels[group]])}
    for key, values in (("splits", ds.splits), ("subjects", ds.subjects)):
        if values is not None:
            example[key] = _distinct(values[group])
    return example


def _distinct(values: np.ndarray) -> list[str]:
    return list(dict.fromkeys(map(str, values)))[:EXAMPLES]


def _warnings(ds: Dataset, groups: dict, blank: np.ndarray, unlike: list[dict]) -> list[str]:
    """One sentence per finding, each with its count and an example a reader can look up."""
    out = []
    if ds.skipped:
        out.append(f"{_count(len(ds.skipped), 'input')} skipped and left out of the data: "
                   + _listing([f"{s['path']} ({s['reason']})" for s in ds.skipped]))
    if ds.converted:
        size = "x".join(map(str, ds.images.shape[1:]))
        out.append(f"{_count(len(ds.converted), 'image')} converted to {size} grayscale: "
                   + _listing([f"{c['path']} (was {c['original']})" for c in ds.converted]))
    for key, (noun, what) in GROUP_FINDINGS.items():
        if groups[key]:
            n_images = sum(len(g) for g in groups[key])
            example = " = ".join(_describe(ds, i) for i in groups[key][0][:SHOWN])
            out.append(f"{_count(len(groups[key]), noun)} ({n_images} images) {what}, e.g. {example}")
    if len(blank):
        out.append(f"{_count(len(blank), 'blank (constant) image')}, e.g. {_describe(ds, blank[0])}: "
                   f"every pixel is {int(ds.images[blank[0]].flat[0])}")
    for u in unlike:
        others = ", ".join(f"{value} in {split}" for split, value in u["others"].items())
        out.append(f"split {u['split']} is unlike the others: {SPLIT_LIMITS[u['statistic']][2]} {u['value']} "
                   f"against {others} (blurred, rescaled or re-encoded images?)")
    if ds.split_is_official is False:
        out.append("the splits are NOT the official ones (see notes): test accuracies on them are not comparable "
                   "with published figures")
    return out


def _describe(ds: Dataset, i: int) -> str:
    """``id (label, split or subject)``: enough to find the image and see why it matters."""
    context = [ds.class_names[ds.labels[i]]] + [str(v[i]) for v in (ds.splits, ds.subjects) if v is not None]
    return f"{ds.sample_ids[i]} ({', '.join(context)})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _listing(items: list[str]) -> str:
    """The first :data:`SHOWN` items, comma-separated, with an ellipsis when there are more."""
    return ", ".join(items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")

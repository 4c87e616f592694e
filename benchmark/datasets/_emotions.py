"""One canonical emotion table: every dataset's class names mapped to the same eight emotions.

FER2013 says ``Angry``/``Sad``/``Happy``, CK+ ``anger``/``sadness``/``happy``, FER+ ``anger``/``sadness``/
``happiness``: the same emotions under different names. Cross-dataset evaluation compares a model trained on one
dataset with the labels of another only through this table, so a class is matched by what it means, never by its
position or spelling. A class name the table does not know is an error (a silent mismatch would score a model
against the wrong labels).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FerBenchError

#: The canonical emotions, in the order tables list them.
CANONICAL = ("anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")

#: Every known spelling (compared lower-cased) -> its canonical emotion: FER2013 (Angry, Disgust, Fear, Happy, Sad,
#: Surprise, Neutral), CK+ (anger, contempt, disgust, fear, happy, sadness, surprise; neutral with --ck-neutral),
#: FER+ (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt) and the synthetic datasets (FER2013's
#: names, and CK+'s for synthetic-b).
ALIASES = {
    "anger": "anger", "angry": "anger",
    "contempt": "contempt",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happiness", "happy": "happiness",
    "neutral": "neutral",
    "sadness": "sadness", "sad": "sadness",
    "surprise": "surprise",
}


def canonical(name: str, *, where: str = "") -> str:
    """The canonical emotion of a class name; a :class:`FerBenchError` naming it (and ``where``) if unknown."""
    found = ALIASES.get(str(name).strip().lower())
    if found is None:
        raise FerBenchError(f"{where + ': ' if where else ''}class {name!r} is not an emotion the canonical table "
                            f"knows ({', '.join(CANONICAL)}); cannot match it across datasets")
    return found


def canonical_classes(class_names, *, where: str = "") -> tuple[str, ...]:
    """The canonical emotion of each class, in the dataset's order; two classes meaning the same emotion are an
    error (their images could not be told apart in another dataset's terms)."""
    out = tuple(canonical(name, where=where) for name in class_names)
    for k, emotion in enumerate(out):
        if emotion in out[:k]:
            first = class_names[out.index(emotion)]
            raise FerBenchError(f"{where + ': ' if where else ''}classes {first!r} and {class_names[k]!r} are both "
                                f"{emotion!r} in the canonical table")
    return out


@dataclass(frozen=True)
class ClassMapping:
    """How a source dataset's classes meet a target's, through the canonical table.

    ``shared`` lists (canonical emotion, source class index, target class index) in the target's class order;
    ``target_only`` the target classes the source never learned (their images are dropped and counted);
    ``source_only`` the source classes the target lacks (a prediction of one is counted as "top class outside").
    """

    source_names: tuple[str, ...]
    target_names: tuple[str, ...]
    shared: tuple[tuple[str, int, int], ...]
    target_only: tuple[str, ...]
    source_only: tuple[str, ...]

    @property
    def shared_target_names(self) -> tuple[str, ...]:
        """The shared classes under the target's names, in the target's order (the scored run's class names)."""
        return tuple(self.target_names[t] for _, _, t in self.shared)

    @property
    def shared_source_indices(self) -> list[int]:
        return [s for _, s, _ in self.shared]

    def summary(self) -> dict:
        """What a manifest records: each shared emotion with its name in both datasets, and the classes only one
        side has (by their own names)."""
        return {"shared": [{"emotion": e, "source": self.source_names[s], "target": self.target_names[t]}
                           for e, s, t in self.shared],
                "target_only": list(self.target_only), "source_only": list(self.source_only)}


def class_mapping(source_names, target_names, *, source: str = "source", target: str = "target") -> ClassMapping:
    """Match ``source_names`` and ``target_names`` through the canonical table; no shared class is an error."""
    source_names, target_names = tuple(source_names), tuple(target_names)
    src = canonical_classes(source_names, where=source)
    tgt = canonical_classes(target_names, where=target)
    shared = tuple((emotion, src.index(emotion), t) for t, emotion in enumerate(tgt) if emotion in src)
    if not shared:
        raise FerBenchError(f"{source} ({', '.join(source_names)}) and {target} ({', '.join(target_names)}) share "
                            f"no emotion; nothing could be scored")
    return ClassMapping(source_names, target_names, shared,
                        target_only=tuple(n for n, e in zip(target_names, tgt) if e not in src),
                        source_only=tuple(n for n, e in zip(source_names, src) if e not in tgt))

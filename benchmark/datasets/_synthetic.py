"""Embedded, procedurally drawn FER datasets: no files, seeded, fast, learnable but not trivial.

Each "subject" has its own face shape, position, skin tone, background and contrast; the expression lives only
in mouth (curve, opening, a one-sided corner for contempt), brows (height, tilt) and eyes (opening), with
per-image intensity and noise so that neighbouring classes (fear/surprise, anger/disgust, sad/neutral) overlap.

Two variants share the drawing code and differ by a :class:`Style`: ``synthetic`` (FER2013's seven class names)
and ``synthetic-b`` (another seed, larger and lower-contrast faces on lighter backgrounds, CK+'s class names:
contempt instead of neutral), so cross-dataset evaluation can be tested on two datasets that really differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import FER_CLASSES, IMAGE_SIZE, Dataset
from ._ckplus import CK48_CLASSES
from ._emotions import canonical

# Expression parameters per canonical emotion: mouth curve (+ smile), mouth opening, brow raise, brow tilt
# (+ inner ends down, as in anger), eye opening, nose wrinkle.
_EXPRESSIONS = {
    "anger":     (-0.3, 0.1, -0.8, 1.0, 0.75, 0.3),
    "disgust":   (-0.6, 0.2, -0.4, 0.6, 0.55, 1.0),
    "fear":      (-0.2, 0.6, 0.5, -0.6, 1.30, 0.0),
    "happiness": (1.0, 0.3, 0.0, 0.0, 0.80, 0.0),
    "sadness":   (-0.9, 0.0, 0.0, -0.9, 0.80, 0.0),
    "surprise":  (0.0, 1.0, 1.0, 0.0, 1.40, 0.0),
    "neutral":   (0.0, 0.0, 0.0, 0.0, 1.00, 0.0),
    "contempt":  (0.2, 0.0, 0.0, 0.0, 0.90, 0.0),
}
#: One-sided raise of the mouth's right corner per emotion (unilateral lip-corner raise: contempt).
_SMIRK = {"contempt": 1.2}


@dataclass(frozen=True)
class Style:
    """What tells one synthetic dataset from another: its name, class names (any the canonical emotion table
    knows), the ranges each subject's face is drawn from, and the per-image noise."""

    name: str
    class_names: tuple[str, ...]
    subject_prefix: str
    centre_jitter: float
    cy: float
    rx: tuple[float, float]
    ry: tuple[float, float]
    skin: tuple[float, float]
    bg: tuple[float, float]
    contrast: tuple[float, float]
    eye_gap: tuple[float, float]
    mouth_w: tuple[float, float]


STYLE_A = Style("synthetic", FER_CLASSES, "P", centre_jitter=3, cy=25, rx=(14, 18), ry=(18, 22), skin=(130, 210),
                bg=(20, 90), contrast=(0.6, 1.0), eye_gap=(0.34, 0.42), mouth_w=(5, 7.5))
STYLE_B = Style("synthetic-b", CK48_CLASSES, "Q", centre_jitter=2, cy=24, rx=(16.5, 19.5), ry=(20, 23),
                skin=(150, 225), bg=(70, 140), contrast=(0.45, 0.8), eye_gap=(0.30, 0.37), mouth_w=(6, 8.5))


def make_synthetic(n_subjects: int = 20, images_per_class: int = 7, *, seed: int = 0,
                   size: int = IMAGE_SIZE, noise: float = 10.0, param_noise: float = 0.3,
                   style: Style = STYLE_A) -> Dataset:
    """Draw ``n_subjects`` x classes x ``images_per_class`` faces of ``size`` x ``size`` pixels in ``style``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) * (48.0 / size)
    images, labels, ids, subjects = [], [], [], []
    emotions = [canonical(cls, where=style.name) for cls in style.class_names]
    for s in range(n_subjects):
        jitter = style.centre_jitter
        face = {
            "cx": 24 + rng.uniform(-jitter, jitter), "cy": style.cy + rng.uniform(-jitter, jitter),
            "rx": rng.uniform(*style.rx), "ry": rng.uniform(*style.ry),
            "skin": rng.uniform(*style.skin), "bg": rng.uniform(*style.bg), "contrast": rng.uniform(*style.contrast),
            "eye_gap": rng.uniform(*style.eye_gap), "mouth_w": rng.uniform(*style.mouth_w),
        }
        subject = f"{style.subject_prefix}{s:02d}"
        for label, (cls, emotion) in enumerate(zip(style.class_names, emotions)):
            base = np.array(_EXPRESSIONS[emotion])
            for k in range(images_per_class):
                intensity = rng.uniform(0.5, 1.1)
                params = base * intensity + rng.normal(0, param_noise, size=base.shape)
                params[4] = base[4] + (params[4] - base[4]) * 0.5  # eye opening is a ratio around 1
                shift = rng.normal(0, 1.0, size=2)
                img = _draw(xx - shift[0], yy - shift[1], face, params, smirk=_SMIRK.get(emotion, 0.0) * intensity)
                img = img + rng.normal(0, noise, size=img.shape)
                images.append(np.clip(img, 0, 255).astype(np.uint8))
                labels.append(label)
                ids.append(f"{style.name}/{subject}/{cls}/{k:03d}")
                subjects.append(subject)
    return Dataset(
        name=style.name, layout=style.name, images=np.stack(images), labels=np.array(labels),
        class_names=style.class_names, sample_ids=np.array(ids), subjects=np.array(subjects),
        notes=[f"procedural faces: {n_subjects} subjects x {images_per_class} images per class, seed {seed}"],
    )


def make_synthetic_b(n_subjects: int = 12, images_per_class: int = 5, *, seed: int = 1) -> Dataset:
    """The second synthetic dataset (``synthetic-b``): 12 subjects x 7 CK+ classes x 5 images = 420 faces drawn in
    :data:`STYLE_B` with another seed and less pixel noise."""
    return make_synthetic(n_subjects, images_per_class, seed=seed, noise=6.0, style=STYLE_B)


def _segment_distance(x, y, x0, y0, x1, y1):
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0, 1)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def _draw(x: np.ndarray, y: np.ndarray, f: dict, params: np.ndarray, *, smirk: float = 0.0) -> np.ndarray:
    curve, mouth_open, brow_raise, brow_tilt, eye_open, wrinkle = params
    img = np.full(x.shape, f["bg"], dtype=np.float32)
    inside = ((x - f["cx"]) / f["rx"]) ** 2 + ((y - f["cy"]) / f["ry"]) ** 2 <= 1
    img[inside] = f["skin"] - 0.25 * (y[inside] - f["cy"])  # a little shading
    dark = f["skin"] * (1 - 0.8 * f["contrast"])
    eye_y = f["cy"] - 0.22 * f["ry"]
    for side in (-1, 1):
        ex = f["cx"] + side * f["eye_gap"] * f["rx"] * 1.15
        eye = ((x - ex) / 3.0) ** 2 + ((y - eye_y) / max(0.4, 1.7 * eye_open)) ** 2 <= 1
        img[eye] = dark
        by = eye_y - 4.0 - 1.8 * brow_raise
        inner_x, outer_x = ex - side * 3.5, ex + side * 3.5
        brow = _segment_distance(x, y, inner_x, by + 1.6 * brow_tilt, outer_x, by - 0.8 * brow_tilt) < 0.9
        img[brow] = dark
    if wrinkle > 0.3:
        for side in (-1, 1):
            nose = _segment_distance(x, y, f["cx"] + side * 1.5, eye_y + 4, f["cx"] + side * 3, eye_y + 6) < 0.5
            img[nose] = img[nose] * (1 - 0.35 * min(wrinkle, 1.5) * f["contrast"])
    mouth_y, half_w = f["cy"] + 0.45 * f["ry"], f["mouth_w"]
    u = (x - f["cx"]) / half_w
    line_y = mouth_y - 3.0 * curve * (u ** 2 - 0.4)
    if smirk:  # the right mouth corner alone pulled up
        line_y = line_y - 2.5 * smirk * np.clip(u, 0, 1) ** 2
    on_mouth = np.abs(u) <= 1
    lips = on_mouth & (np.abs(y - line_y) < 0.8)
    img[lips] = dark
    if mouth_open > 0.15:
        opening = on_mouth & (y >= line_y) & (y <= line_y + 3.5 * mouth_open * np.sqrt(np.clip(1 - u ** 2, 0, 1)))
        img[opening] = dark * 0.6
    return img

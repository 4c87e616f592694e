"""An embedded, procedurally drawn FER dataset: no files, seeded, fast, learnable but not trivial.

Each "subject" has its own face shape, position, skin tone, background and contrast; the expression lives only
in mouth (curve, opening), brows (height, tilt) and eyes (opening), with per-image intensity and noise so that
neighbouring classes (fear/surprise, anger/disgust, sad/neutral) overlap.
"""

from __future__ import annotations

import numpy as np

from ._base import FER_CLASSES, IMAGE_SIZE, Dataset

# Expression parameters per FER class: mouth curve (+ smile), mouth opening, brow raise, brow tilt
# (+ inner ends down, as in anger), eye opening, nose wrinkle.
_EXPRESSIONS = {
    "Angry":    (-0.3, 0.1, -0.8, 1.0, 0.75, 0.3),
    "Disgust":  (-0.6, 0.2, -0.4, 0.6, 0.55, 1.0),
    "Fear":     (-0.2, 0.6, 0.5, -0.6, 1.30, 0.0),
    "Happy":    (1.0, 0.3, 0.0, 0.0, 0.80, 0.0),
    "Sad":      (-0.9, 0.0, 0.0, -0.9, 0.80, 0.0),
    "Surprise": (0.0, 1.0, 1.0, 0.0, 1.40, 0.0),
    "Neutral":  (0.0, 0.0, 0.0, 0.0, 1.00, 0.0),
}


def make_synthetic(n_subjects: int = 20, images_per_class: int = 7, *, seed: int = 0,
                   size: int = IMAGE_SIZE, noise: float = 10.0, param_noise: float = 0.3) -> Dataset:
    """Draw ``n_subjects`` x 7 classes x ``images_per_class`` faces of ``size`` x ``size`` pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) * (48.0 / size)
    images, labels, ids, subjects = [], [], [], []
    for s in range(n_subjects):
        face = {
            "cx": 24 + rng.uniform(-3, 3), "cy": 25 + rng.uniform(-3, 3),
            "rx": rng.uniform(14, 18), "ry": rng.uniform(18, 22),
            "skin": rng.uniform(130, 210), "bg": rng.uniform(20, 90), "contrast": rng.uniform(0.6, 1.0),
            "eye_gap": rng.uniform(0.34, 0.42), "mouth_w": rng.uniform(5, 7.5),
        }
        for label, cls in enumerate(FER_CLASSES):
            base = np.array(_EXPRESSIONS[cls])
            for k in range(images_per_class):
                intensity = rng.uniform(0.5, 1.1)
                params = base * intensity + rng.normal(0, param_noise, size=base.shape)
                params[4] = base[4] + (params[4] - base[4]) * 0.5  # eye opening is a ratio around 1
                shift = rng.normal(0, 1.0, size=2)
                img = _draw(xx - shift[0], yy - shift[1], face, params)
                img = img + rng.normal(0, noise, size=img.shape)
                images.append(np.clip(img, 0, 255).astype(np.uint8))
                labels.append(label)
                ids.append(f"synthetic/P{s:02d}/{cls}/{k:03d}")
                subjects.append(f"P{s:02d}")
    return Dataset(
        name="synthetic", layout="synthetic", images=np.stack(images), labels=np.array(labels),
        class_names=FER_CLASSES, sample_ids=np.array(ids), subjects=np.array(subjects),
        notes=[f"procedural faces: {n_subjects} subjects x {images_per_class} images per class, seed {seed}"],
    )


def _segment_distance(x, y, x0, y0, x1, y1):
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0, 1)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def _draw(x: np.ndarray, y: np.ndarray, f: dict, params: np.ndarray) -> np.ndarray:
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
    on_mouth = np.abs(u) <= 1
    lips = on_mouth & (np.abs(y - line_y) < 0.8)
    img[lips] = dark
    if mouth_open > 0.15:
        opening = on_mouth & (y >= line_y) & (y <= line_y + 3.5 * mouth_open * np.sqrt(np.clip(1 - u ** 2, 0, 1)))
        img[opening] = dark * 0.6
    return img

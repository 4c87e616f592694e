"""Where dlib's 68 landmarks sit in the 48 x 48 training crops of each dataset: the target of predict's alignment.

Each template is the mean landmark position over a dataset's own crops, measured the way ``fer-bench predict``
measures a photo: the crop upscaled 4x (bicubic), dlib's HOG face detector, the 68-point predictor in its box,
coordinates divided by 4. Measured on the development copies (``../shared/data``) with
``benchmark.predict._templates.measure_template``:

- FER2013: 2,093 of 3,000 random images had a detected face; landmarks scatter around the mean by
  a median 3.7 px (SD per coordinate): FER2013's crops are loose (Google image search faces registered
  by the challenge's organisers), so no single crop rule reproduces all of them.
- CK+48: 683 of 684 images; median SD 1.1 px: CK+48's crops are tight and consistent.

Both put the eye centres about 17.5 px apart at y ~ 19 and the mouth at y ~ 37.5; CK+48 crops sit slightly lower
on the face (more chin cut off). Datasets without real faces (the synthetic ones) use FER2013's template, as do
FER+'s images (they are FER2013's).
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from ..datasets import DATASETS
from ._faces import FaceFinder

#: dataset -> 68 x 2 mean landmark (x, y) in the 48 x 48 crop
TEMPLATES = {
    "fer2013": np.array([
    (4.91, 19.35), (5.17, 24.33), (5.86, 29.25), (6.94, 34.04), (8.81, 38.49), (11.70, 42.35),
    (15.36, 45.37), (19.58, 47.44), (24.34, 47.91), (29.10, 47.33), (33.31, 45.20), (36.99, 42.15),
    (39.86, 38.22), (41.65, 33.68), (42.59, 28.78), (43.11, 23.78), (43.25, 18.73), (8.06, 15.10),
    (10.42, 13.00), (13.73, 12.35), (17.15, 12.76), (20.39, 14.02), (26.91, 13.86), (30.20, 12.49),
    (33.68, 11.98), (37.09, 12.57), (39.61, 14.60), (23.74, 18.02), (23.77, 21.29), (23.79, 24.51),
    (23.82, 27.80), (20.07, 30.18), (21.93, 30.81), (23.93, 31.33), (25.92, 30.75), (27.78, 30.09),
    (11.85, 18.75), (13.94, 17.47), (16.53, 17.46), (18.78, 19.11), (16.39, 19.61), (13.83, 19.62),
    (28.88, 18.95), (31.10, 17.22), (33.69, 17.16), (35.85, 18.38), (33.89, 19.29), (31.33, 19.38),
    (16.71, 36.82), (19.21, 35.26), (22.01, 34.51), (24.01, 34.97), (26.04, 34.45), (28.92, 35.13),
    (31.58, 36.60), (29.11, 39.44), (26.32, 40.72), (24.11, 40.96), (21.93, 40.77), (19.17, 39.57),
    (17.78, 36.88), (22.03, 36.18), (24.04, 36.34), (26.09, 36.12), (30.47, 36.71), (26.15, 38.19),
    (24.06, 38.45), (21.99, 38.24),
    ]),
    "ck+": np.array([
    (4.03, 20.67), (4.44, 25.71), (5.20, 30.64), (6.17, 35.53), (7.74, 40.14), (10.46, 44.18),
    (14.31, 47.16), (18.93, 48.92), (24.28, 49.32), (29.65, 48.88), (34.25, 47.01), (38.10, 43.96),
    (40.79, 39.86), (42.30, 35.21), (43.17, 30.27), (43.78, 25.27), (44.04, 20.16), (7.27, 16.46),
    (9.77, 13.98), (13.34, 13.14), (17.06, 13.46), (20.65, 14.63), (26.83, 14.54), (30.40, 13.28),
    (34.14, 12.89), (37.75, 13.66), (40.35, 16.06), (23.79, 18.46), (23.81, 21.63), (23.82, 24.77),
    (23.85, 28.02), (20.05, 30.79), (21.92, 31.35), (23.95, 31.82), (25.99, 31.31), (27.87, 30.72),
    (11.46, 19.69), (13.66, 18.36), (16.33, 18.30), (18.75, 19.88), (16.23, 20.45), (13.59, 20.50),
    (28.98, 19.78), (31.39, 18.15), (34.06, 18.16), (36.29, 19.46), (34.18, 20.29), (31.55, 20.28),
    (16.55, 38.04), (19.03, 35.93), (21.90, 34.95), (23.99, 35.43), (26.11, 34.92), (29.05, 35.88),
    (31.63, 37.97), (29.17, 40.40), (26.34, 41.58), (24.04, 41.81), (21.78, 41.60), (18.99, 40.48),
    (17.65, 37.99), (21.89, 36.86), (24.01, 37.05), (26.16, 36.83), (30.49, 37.93), (26.19, 38.83),
    (24.00, 39.09), (21.85, 38.85),
    ]),
}
#: the template of a dataset this version does not know (a run made by a newer fer-bench)
DEFAULT_TEMPLATE = "fer2013"


def template_for(dataset: str) -> tuple[str, np.ndarray]:
    """The template name and points for a run on ``dataset`` (its registry entry names it: ``crop_template``)."""
    entry = DATASETS.get(dataset)
    name = entry.crop_template if entry is not None else DEFAULT_TEMPLATE
    return name, TEMPLATES[name]


def measure_template(images: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Mean landmarks over the crops where a face is found (upscaled 4x, no detector upsampling, any score), how
    many were found, and the median SD of a landmark coordinate (px): how the templates above were made."""

    finder = FaceFinder(upsample=0, min_score=0.0)
    found = []
    for image in images:
        h, w = image.shape
        big = np.clip(resize(image, (4 * h, 4 * w), order=3, preserve_range=True), 0, 255).astype(np.uint8)
        faces = finder.find(big)
        if faces:
            found.append(faces[0].landmarks / 4)
    points = np.stack(found)
    return points.mean(axis=0), len(found), float(np.median(points.std(axis=0)))

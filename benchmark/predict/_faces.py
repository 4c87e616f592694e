"""Faces in a photo: dlib's HOG frontal detector, its 68 landmarks, and the aligned 48 x 48 crop a run trained on.

dlib's detector is a HOG + linear SVM sliding window for frontal faces: it misses faces smaller than about 80 x 80
pixels unless the image is upsampled (``upsample``: each step doubles the image, four times the time), faces
turned more than about 30 degrees away (profiles), strongly tilted heads and heavy occlusion. Its score is the
SVM margin: on ``skimage.data.astronaut()`` with one upsampling step the face scores 1.16 and the mission patch
on her suit 0.12, so the default ``min_score`` of 0.5 keeps the face only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.transform import ProjectiveTransform, resize, warp

from features import default_predictor_path, load_predictor

from ..datasets import IMAGE_SIZE
from ..errors import FerBenchError

#: Landmarks the crop is fitted to: nose bridge, nose and eyes (27-47), which expressions move least (the mouth,
#: brows and jaw move with the expression the model must see, so they must not pull the crop around).
ALIGN_POINTS = np.arange(27, 48)
LEFT_EYE, RIGHT_EYE = np.arange(36, 42), np.arange(42, 48)
#: The crop is rendered at this multiple of 48 and then downsized with anti-aliasing.
OVERSAMPLE = 4
DEFAULT_UPSAMPLE, DEFAULT_MIN_SCORE = 1, 0.5


@dataclass(frozen=True)
class Face:
    """One detected face: box (left, top, right, bottom) and 68 landmarks (x, y) in input pixels."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray


class FaceFinder:
    """dlib's frontal face detector with a fixed upsampling and score threshold, plus the 68-point predictor."""

    def __init__(self, *, upsample: int = DEFAULT_UPSAMPLE, min_score: float = DEFAULT_MIN_SCORE,
                 predictor_path: str | None = None) -> None:
        try:
            import dlib  # lazy: dlib loads a large native library, and only face finding needs it
        except ImportError:  # a machine set up for training only (a GPU node with JAX or PyTorch, say)
            raise FerBenchError("finding faces needs dlib, which is not installed here (pip install dlib-bin); "
                                "--no-detect predicts images that are already cropped faces without it") from None
        self.upsample, self.min_score = upsample, min_score
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = load_predictor(str(predictor_path or default_predictor_path()))

    def find(self, image: np.ndarray) -> list[Face]:
        """Faces scoring at least ``min_score`` in a uint8 H x W (gray) or H x W x 3 (RGB) image, best first."""
        import dlib

        image = np.ascontiguousarray(image, dtype=np.uint8)
        rects, scores, _ = self._detector.run(image, self.upsample, self.min_score)
        gray = to_gray(image)
        faces = []
        for rect, score in zip(rects, scores):
            if score < self.min_score:
                continue
            shape = self._predictor(gray, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            faces.append(Face((rect.left(), rect.top(), rect.right(), rect.bottom()), float(score), points))
        return sorted(faces, key=lambda f: -f.score)


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale (ITU-R 601 luma, as PIL's ``convert("L")`` that the dataset loaders use)."""
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    rgb = image[..., :3].astype(np.float64)
    return np.clip(np.rint(rgb @ np.array([0.299, 0.587, 0.114])), 0, 255).astype(np.uint8)


def alignment(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 3 x 3 matrix taking crop coordinates (48 x 48 frame) to input coordinates: a rotation that levels
    the eyes, then the scale and shift that best fit :data:`ALIGN_POINTS` to the template (least squares)."""
    src = np.asarray(landmarks, dtype=np.float64)  # input pixels
    eye_vector = src[RIGHT_EYE].mean(axis=0) - src[LEFT_EYE].mean(axis=0)
    angle = np.arctan2(eye_vector[1], eye_vector[0])  # the input's eye-line tilt
    cos, sin = np.cos(-angle), np.sin(-angle)
    rotate = np.array([[cos, -sin], [sin, cos]])
    p = src[ALIGN_POINTS] @ rotate.T  # eyes level
    q = template[ALIGN_POINTS]
    pc, qc = p - p.mean(axis=0), q - q.mean(axis=0)
    scale = float((pc * qc).sum() / (pc * pc).sum())  # input -> crop
    shift = q.mean(axis=0) - scale * p.mean(axis=0)
    forward = np.eye(3)
    forward[:2, :2] = scale * rotate
    forward[:2, 2] = shift
    return np.linalg.inv(forward)


def aligned_crop(image: np.ndarray, face: Face, template: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """The face as the run's training images show it: grayscale, eyes level, landmarks on the dataset's template,
    ``size`` x ``size`` uint8. Rendered at :data:`OVERSAMPLE` x the size after smoothing the input in proportion
    to the shrink, then downsized with anti-aliasing, so large photos do not alias."""
    gray = to_gray(image).astype(np.float64)
    big = size * OVERSAMPLE
    to_input = alignment(face.landmarks, template * (size / IMAGE_SIZE))
    oversampled = to_input @ np.diag([1 / OVERSAMPLE, 1 / OVERSAMPLE, 1])  # crop pixels at OVERSAMPLE x
    shrink = float(np.sqrt(abs(np.linalg.det(oversampled[:2, :2]))))  # input pixels per rendered pixel
    sigma = (shrink - 1) / 2 if shrink > 1 else 0.0
    # only the part of the input the crop covers (plus the smoothing's reach) is smoothed and sampled
    corners = oversampled @ np.array([[0, 0, 1], [big, 0, 1], [0, big, 1], [big, big, 1]]).T
    pad = int(np.ceil(4 * sigma)) + 2
    x0, y0 = (max(0, int(np.floor(corners[i].min())) - pad) for i in (0, 1))
    x1, y1 = (min(gray.shape[1 - i], int(np.ceil(corners[i].max())) + pad + 1) for i in (0, 1))
    if x1 > x0 and y1 > y0:
        gray = gray[y0:y1, x0:x1]
        oversampled = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ oversampled
    if sigma:
        gray = gaussian_filter(gray, sigma=sigma)
    rendered = warp(gray, ProjectiveTransform(oversampled), output_shape=(big, big), order=1, mode="edge",
                    preserve_range=True)
    small = resize(rendered, (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def whole_image_crop(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """``--no-detect``: the whole image is the face, made grayscale and resized (anti-aliased) to the run's size."""
    gray = to_gray(image)
    if gray.shape == (size, size):
        return gray
    small = resize(gray.astype(np.float64), (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)

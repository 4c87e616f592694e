"""Datasets: one loaded type (:class:`Dataset`) for every source and layout, found from a data folder."""

from ._base import FER_CLASSES, IMAGE_SIZE, IMAGE_SUFFIXES, OFFICIAL_SPLITS, Dataset, open_image
from ._emotions import canonical_classes, class_mapping
from ._ferplus import FERPLUS_CLASSES, LABEL_RULES as FERPLUS_LABEL_RULES
from ._registry import DATASETS, DatasetEntry, dataset_entry, default_data_dir, detect_layout, load_dataset
from ._synthetic import make_synthetic

__all__ = ["DATASETS", "Dataset", "DatasetEntry", "FERPLUS_CLASSES", "FERPLUS_LABEL_RULES", "FER_CLASSES", "IMAGE_SIZE",
           "IMAGE_SUFFIXES", "OFFICIAL_SPLITS", "canonical_classes", "class_mapping", "dataset_entry", "default_data_dir", "detect_layout", "load_dataset", "make_synthetic", "open_image"]

"""Datasets: one loaded type (:class:`Dataset`) for every source and layout, found from a data folder."""

from ._base import FER_CLASSES, IMAGE_SIZE, OFFICIAL_SPLITS, Dataset
from ._ferplus import FERPLUS_CLASSES
from ._registry import DATASETS, DatasetEntry, dataset_entry, default_data_dir, detect_layout, load_dataset
from ._synthetic import make_synthetic

__all__ = ["DATASETS", "Dataset", "DatasetEntry", "FERPLUS_CLASSES", "FER_CLASSES", "IMAGE_SIZE", "OFFICIAL_SPLITS",
           "dataset_entry", "default_data_dir", "detect_layout", "load_dataset", "make_synthetic"]

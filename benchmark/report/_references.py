"""``references.bib``: the published sources of every dataset, feature, model and statistical test the report's
runs used, so that a thesis cites what it ran (the entries a report writes depend only on its runs)."""

from __future__ import annotations

from pathlib import Path

from ..kinds import kind_named

ENTRIES = {
    "goodfellow2013": """@inproceedings{goodfellow2013,
  author = {Goodfellow, Ian J. and Erhan, Dumitru and Carrier, Pierre Luc and Courville, Aaron and Mirza, Mehdi and
            Hamner, Ben and Cukierski, Will and Tang, Yichuan and Thaler, David and Lee, Dong-Hyun and others},
  title = {Challenges in Representation Learning: A Report on Three Machine Learning Contests},
  booktitle = {Neural Information Processing (ICONIP 2013)},
  series = {Lecture Notes in Computer Science}, volume = {8228}, pages = {117--124}, publisher = {Springer},
  year = {2013}}""",
    "lucey2010": """@inproceedings{lucey2010,
  author = {Lucey, Patrick and Cohn, Jeffrey F. and Kanade, Takeo and Saragih, Jason and Ambadar, Zara and
            Matthews, Iain},
  title = {The Extended {Cohn-Kanade} Dataset ({CK+}): A Complete Dataset for Action Unit and Emotion-Specified
           Expression},
  booktitle = {IEEE Computer Society Conference on Computer Vision and Pattern Recognition Workshops},
  pages = {94--101}, year = {2010}}""",
    "barsoum2016": """@inproceedings{barsoum2016,
  author = {Barsoum, Emad and Zhang, Cha and Canton Ferrer, Cristian and Zhang, Zhengyou},
  title = {Training Deep Networks for Facial Expression Recognition with Crowd-Sourced Label Distribution},
  booktitle = {Proceedings of the 18th ACM International Conference on Multimodal Interaction (ICMI)},
  pages = {279--283}, year = {2016}}""",
    "dalal2005": """@inproceedings{dalal2005,
  author = {Dalal, Navneet and Triggs, Bill},
  title = {Histograms of Oriented Gradients for Human Detection},
  booktitle = {IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR)},
  volume = {1}, pages = {886--893}, year = {2005}}""",
    "ojala2002": """@article{ojala2002,
  author = {Ojala, Timo and Pietik{\\"a}inen, Matti and M{\\"a}enp{\\"a}{\\"a}, Topi},
  title = {Multiresolution Gray-Scale and Rotation Invariant Texture Classification with Local Binary Patterns},
  journal = {IEEE Transactions on Pattern Analysis and Machine Intelligence},
  volume = {24}, number = {7}, pages = {971--987}, year = {2002}}""",
    "kazemi2014": """@inproceedings{kazemi2014,
  author = {Kazemi, Vahid and Sullivan, Josephine},
  title = {One Millisecond Face Alignment with an Ensemble of Regression Trees},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {1867--1874}, year = {2014}}""",
    "lazebnik2006": """@inproceedings{lazebnik2006,
  author = {Lazebnik, Svetlana and Schmid, Cordelia and Ponce, Jean},
  title = {Beyond Bags of Features: Spatial Pyramid Matching for Recognizing Natural Scene Categories},
  booktitle = {IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR)},
  volume = {2}, pages = {2169--2178}, year = {2006}}""",
    "arandjelovic2012": """@inproceedings{arandjelovic2012,
  author = {Arandjelovi{\\'c}, Relja and Zisserman, Andrew},
  title = {Three Things Everyone Should Know to Improve Object Retrieval},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {2911--2918}, year = {2012}}""",
    "cortes1995": """@article{cortes1995,
  author = {Cortes, Corinna and Vapnik, Vladimir},
  title = {Support-Vector Networks},
  journal = {Machine Learning}, volume = {20}, number = {3}, pages = {273--297}, year = {1995}}""",
    "pedregosa2011": """@article{pedregosa2011,
  author = {Pedregosa, Fabian and Varoquaux, Ga{\\"e}l and Gramfort, Alexandre and Michel, Vincent and
            Thirion, Bertrand and Grisel, Olivier and Blondel, Mathieu and Prettenhofer, Peter and Weiss, Ron and
            Dubourg, Vincent and others},
  title = {Scikit-learn: Machine Learning in {P}ython},
  journal = {Journal of Machine Learning Research}, volume = {12}, pages = {2825--2830}, year = {2011}}""",
    "arriaga2017": """@misc{arriaga2017,
  author = {Arriaga, Octavio and Valdenegro-Toro, Matias and Pl{\\"o}ger, Paul},
  title = {Real-time Convolutional Neural Networks for Emotion and Gender Classification},
  howpublished = {arXiv:1710.07557}, year = {2017}}""",
    "khaireddin2021": """@misc{khaireddin2021,
  author = {Khaireddin, Yousif and Chen, Zhuofa},
  title = {Facial Emotion Recognition: State of the Art Performance on {FER2013}},
  howpublished = {arXiv:2105.03588}, year = {2021}}""",
    "he2016": """@inproceedings{he2016,
  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title = {Deep Residual Learning for Image Recognition},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {770--778}, year = {2016}}""",
    "chollet2017": """@inproceedings{chollet2017,
  author = {Chollet, Fran{\\c{c}}ois},
  title = {Xception: Deep Learning with Depthwise Separable Convolutions},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages = {1251--1258}, year = {2017}}""",
    "nadeau2003": """@article{nadeau2003,
  author = {Nadeau, Claude and Bengio, Yoshua},
  title = {Inference for the Generalization Error},
  journal = {Machine Learning}, volume = {52}, number = {3}, pages = {239--281}, year = {2003}}""",
    "mcnemar1947": """@article{mcnemar1947,
  author = {McNemar, Quinn},
  title = {Note on the Sampling Error of the Difference between Correlated Proportions or Percentages},
  journal = {Psychometrika}, volume = {12}, number = {2}, pages = {153--157}, year = {1947}}""",
    "wilcoxon1945": """@article{wilcoxon1945,
  author = {Wilcoxon, Frank},
  title = {Individual Comparisons by Ranking Methods},
  journal = {Biometrics Bulletin}, volume = {1}, number = {6}, pages = {80--83}, year = {1945}}""",
}

#: What each dataset, feature, model (by its family) and test is cited by.
DATASET_SOURCES = {"fer2013": ["goodfellow2013"], "ck+": ["lucey2010"], "ferplus": ["barsoum2016", "goodfellow2013"]}
FEATURE_SOURCES = {"hog": ["dalal2005"], "hog-sliding": ["dalal2005"], "lbp": ["ojala2002"],
                   "landmarks": ["kazemi2014"], "landmark-distances": ["kazemi2014"],
                   "bovw": ["lazebnik2006", "arandjelovic2012"]}
MODEL_SOURCES = {"mini-xception": ["arriaga2017", "chollet2017"], "vgg-fer": ["khaireddin2021"],
                 "resnet50": ["he2016"], "xception": ["chollet2017"]}
TEST_SOURCES = {"k-fold": ["nadeau2003", "wilcoxon1945"], "official": ["mcnemar1947"]}


def references_for(runs) -> list[str]:
    """The citation keys of what ``runs`` used, in first-use order: datasets, features, models, and the paired
    tests the significance tables compute."""
    keys: list[str] = []
    for run in runs:
        metrics = run.metrics
        keys += DATASET_SOURCES.get(run.dataset, [])
        for feature in str(metrics.get("features") or "").split("+"):
            keys += FEATURE_SOURCES.get(feature, [])
        keys += [*kind_named(run.kind).citations, *MODEL_SOURCES.get(metrics["model"], [])]
        keys += TEST_SOURCES["k-fold" if run.protocol.per_fold else "official"]
    return list(dict.fromkeys(k for k in keys if k in ENTRIES))


def write_references(folder: Path, runs) -> list[str]:
    """Write ``folder/references.bib`` with the entries of :func:`references_for`; returns their keys."""
    keys = references_for(runs)
    Path(folder, "references.bib").write_text("\n\n".join(ENTRIES[k] for k in keys) + "\n")
    return keys

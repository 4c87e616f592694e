"""``references.bib``: the published sources of every dataset, feature, model, training method and statistical test
the report's runs used, so that a thesis cites what it ran (the entries a report writes depend only on its runs and
on what its LaTeX files cite); and which of them each caption and methods paragraph cites.

Every key that any generated ``.tex`` file cites has its entry in ``references.bib``: the captions and methods
paragraphs cite only keys of the maps below (each of which has an entry, as a test checks), and
:func:`write_references` adds the entry of every key the written files cite.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..evaluations import evaluation_of
from ..kinds import folds_decided_by_libsvm, kind_named
from ._experiments import recipe_of_run, run_platform, trained_by_epochs

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
    "efron1979": """@article{efron1979,
  author = {Efron, Bradley},
  title = {Bootstrap Methods: Another Look at the Jackknife},
  journal = {The Annals of Statistics}, volume = {7}, number = {1}, pages = {1--26}, year = {1979}}""",
    "lowe2004": """@article{lowe2004,
  author = {Lowe, David G.},
  title = {Distinctive Image Features from Scale-Invariant Keypoints},
  journal = {International Journal of Computer Vision}, volume = {60}, number = {2}, pages = {91--110},
  year = {2004}}""",
    "king2009": """@article{king2009,
  author = {King, Davis E.},
  title = {Dlib-ml: A Machine Learning Toolkit},
  journal = {Journal of Machine Learning Research}, volume = {10}, pages = {1755--1758}, year = {2009}}""",
    "zhang2007": """@article{zhang2007,
  author = {Zhang, Jianguo and Marsza{\\l}ek, Marcin and Lazebnik, Svetlana and Schmid, Cordelia},
  title = {Local Features and Kernels for Classification of Texture and Object Categories: A Comprehensive Study},
  journal = {International Journal of Computer Vision}, volume = {73}, number = {2}, pages = {213--238},
  year = {2007}}""",
    "vedaldi2012": """@article{vedaldi2012,
  author = {Vedaldi, Andrea and Zisserman, Andrew},
  title = {Efficient Additive Kernels via Explicit Feature Maps},
  journal = {IEEE Transactions on Pattern Analysis and Machine Intelligence},
  volume = {34}, number = {3}, pages = {480--492}, year = {2012}}""",
    "chang2011": """@article{chang2011,
  author = {Chang, Chih-Chung and Lin, Chih-Jen},
  title = {{LIBSVM}: A Library for Support Vector Machines},
  journal = {ACM Transactions on Intelligent Systems and Technology},
  volume = {2}, number = {3}, pages = {27:1--27:27}, year = {2011}}""",
    "fan2008": """@article{fan2008,
  author = {Fan, Rong-En and Chang, Kai-Wei and Hsieh, Cho-Jui and Wang, Xiang-Rui and Lin, Chih-Jen},
  title = {{LIBLINEAR}: A Library for Large Linear Classification},
  journal = {Journal of Machine Learning Research}, volume = {9}, pages = {1871--1874}, year = {2008}}""",
    "jamieson2016": """@inproceedings{jamieson2016,
  author = {Jamieson, Kevin and Talwalkar, Ameet},
  title = {Non-stochastic Best Arm Identification and Hyperparameter Optimization},
  booktitle = {Proceedings of the 19th International Conference on Artificial Intelligence and Statistics (AISTATS)},
  series = {Proceedings of Machine Learning Research}, volume = {51}, pages = {240--248}, year = {2016}}""",
    "kingma2015": """@inproceedings{kingma2015,
  author = {Kingma, Diederik P. and Ba, Jimmy},
  title = {Adam: A Method for Stochastic Optimization},
  booktitle = {3rd International Conference on Learning Representations (ICLR)}, year = {2015}}""",
    "sutskever2013": """@inproceedings{sutskever2013,
  author = {Sutskever, Ilya and Martens, James and Dahl, George and Hinton, Geoffrey},
  title = {On the Importance of Initialization and Momentum in Deep Learning},
  booktitle = {Proceedings of the 30th International Conference on Machine Learning (ICML)},
  series = {Proceedings of Machine Learning Research}, volume = {28}, number = {3}, pages = {1139--1147},
  year = {2013}}""",
    "loshchilov2017": """@inproceedings{loshchilov2017,
  author = {Loshchilov, Ilya and Hutter, Frank},
  title = {{SGDR}: Stochastic Gradient Descent with Warm Restarts},
  booktitle = {5th International Conference on Learning Representations (ICLR)}, year = {2017}}""",
    "prechelt1998": """@incollection{prechelt1998,
  author = {Prechelt, Lutz},
  title = {Early Stopping -- But When?},
  booktitle = {Neural Networks: Tricks of the Trade},
  series = {Lecture Notes in Computer Science}, volume = {1524}, pages = {55--69}, publisher = {Springer},
  year = {1998}}""",
    "krizhevsky2012": """@inproceedings{krizhevsky2012,
  author = {Krizhevsky, Alex and Sutskever, Ilya and Hinton, Geoffrey E.},
  title = {{ImageNet} Classification with Deep Convolutional Neural Networks},
  booktitle = {Advances in Neural Information Processing Systems 25 (NIPS)},
  pages = {1097--1105}, year = {2012}}""",
    "chollet2015": """@misc{chollet2015,
  author = {Chollet, Fran{\\c{c}}ois and others},
  title = {Keras},
  howpublished = {https://keras.io}, year = {2015}}""",
    "abadi2016": """@inproceedings{abadi2016,
  author = {Abadi, Mart{\\'\\i}n and Barham, Paul and Chen, Jianmin and Chen, Zhifeng and Davis, Andy and
            Dean, Jeffrey and Devin, Matthieu and Ghemawat, Sanjay and Irving, Geoffrey and Isard, Michael and
            others},
  title = {{TensorFlow}: A System for Large-Scale Machine Learning},
  booktitle = {12th USENIX Symposium on Operating Systems Design and Implementation (OSDI)},
  pages = {265--283}, year = {2016}}""",
    "bradbury2018": """@misc{bradbury2018,
  author = {Bradbury, James and Frostig, Roy and Hawkins, Peter and Johnson, Matthew James and Leary, Chris and
            Maclaurin, Dougal and Necula, George and Paszke, Adam and VanderPlas, Jake and Wanderman-Milne, Skye
            and Zhang, Qiao},
  title = {{JAX}: Composable Transformations of {Python+NumPy} Programs},
  howpublished = {http://github.com/jax-ml/jax}, year = {2018}}""",
    "paszke2019": """@inproceedings{paszke2019,
  author = {Paszke, Adam and Gross, Sam and Massa, Francisco and Lerer, Adam and Bradbury, James and Chanan,
            Gregory and Killeen, Trevor and Lin, Zeming and Gimelshein, Natalia and Antiga, Luca and others},
  title = {{PyTorch}: An Imperative Style, High-Performance Deep Learning Library},
  booktitle = {Advances in Neural Information Processing Systems 32 (NeurIPS)},
  pages = {8024--8035}, year = {2019}}""",
    "lakshminarayanan2017": """@inproceedings{lakshminarayanan2017,
  author = {Lakshminarayanan, Balaji and Pritzel, Alexander and Blundell, Charles},
  title = {Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles},
  booktitle = {Advances in Neural Information Processing Systems 30 (NIPS)},
  year = {2017}}""",
}

#: What each dataset, feature, model (by its name, beside its kind's ``citations``) and test is cited by.
DATASET_SOURCES = {"fer2013": ["goodfellow2013"], "ck+": ["lucey2010"], "ferplus": ["barsoum2016", "goodfellow2013"]}
FEATURE_SOURCES = {"hog": ["dalal2005"], "hog-4": ["dalal2005"], "hog-6": ["dalal2005"], "hog-sliding": ["dalal2005"],
                   "lbp": ["ojala2002"], "landmarks": ["kazemi2014", "king2009"],
                   "landmark-distances": ["kazemi2014", "king2009"],
                   "bovw": ["lazebnik2006", "lowe2004", "arandjelovic2012"]}
MODEL_SOURCES = {"svm-chi2": ["zhang2007", "vedaldi2012"], "mini-xception": ["arriaga2017", "chollet2017"],
                 "vgg-fer": ["khaireddin2021"], "resnet50": ["he2016"], "xception": ["chollet2017"]}
TEST_SOURCES = {"k-fold": ["nadeau2003", "wilcoxon1945"], "official": ["mcnemar1947"]}
#: The seed ensembles' table (deep ensembles of networks trained from different random initialisations).
ENSEMBLE_SOURCES = ["lakshminarayanan2017"]
#: The confidence-interval tables' resampling.
BOOTSTRAP_SOURCES = ["efron1979"]
#: How a run was fitted, by the value its config.json or manifest.json records (the methods paragraphs cite them):
#: the SVM solver (``svm_backend``), the grid search (``search``), a CNN's optimizer, learning-rate schedule,
#: test-time augmentation and Keras backend, and the early stopping every CNN trains with.
SOLVER_SOURCES = {"libsvm": ["chang2011"], "liblinear": ["fan2008"], "liblinear-ovr": ["fan2008"]}
SEARCH_SOURCES = {"halving": ["jamieson2016"]}
OPTIMIZER_SOURCES = {"adam": ["kingma2015"], "sgd": ["sutskever2013"]}
SCHEDULE_SOURCES = {"cosine": ["loshchilov2017"]}
TTA_SOURCES = {"ten-crop": ["krizhevsky2012"]}
BACKEND_SOURCES = {"keras": ["chollet2015"], "tensorflow": ["abadi2016"], "jax": ["bradbury2018"],
                   "torch": ["paszke2019"]}
EARLY_STOPPING_SOURCES = ["prechelt1998"]
#: Every map of names to keys above (a test checks that each key has an entry).
SOURCE_MAPS = (DATASET_SOURCES, FEATURE_SOURCES, MODEL_SOURCES, TEST_SOURCES, SOLVER_SOURCES, SEARCH_SOURCES,
               OPTIMIZER_SOURCES, SCHEDULE_SOURCES, TTA_SOURCES, BACKEND_SOURCES)


def dataset_keys(run) -> list[str]:
    """The sources of the data a run used: the dataset it was fitted on and any other it scored (a cross-dataset
    run's target)."""
    names = [run.dataset, *(d.get("name") for d in evaluation_of(run).other_datasets(run) if d)]
    return [k for name in names for k in DATASET_SOURCES.get(name, [])]


def feature_keys(features: str) -> list[str]:
    """The sources of a feature spec (``hog+landmarks``); none for pixels."""
    return [k for name in str(features or "").split("+") for k in FEATURE_SOURCES.get(name, [])]


def model_keys(run) -> list[str]:
    """The sources of a run's model: its kind's (the SVM, scikit-learn) and its own (a published architecture)."""
    return [*kind_named(run.kind).citations, *MODEL_SOURCES.get(run.metrics["model"], [])]


def test_keys(run) -> list[str]:
    """The sources of the paired tests the significance table computes under a run's protocol."""
    return TEST_SOURCES["k-fold" if run.protocol.per_fold else "official"]


def fitting_keys(run) -> list[str]:
    """The sources of how a run was fitted, as the methods paragraphs cite them (:data:`SOLVER_SOURCES`...): read
    from what its config.json and manifest.json record, so a run cites only what it used."""
    config, device = run.config, run.manifest.get("training_device") or {}
    keys = [*SOLVER_SOURCES.get(run_platform(run).get("svm_backend"), []),
            *SEARCH_SOURCES.get(config.get("search"), [])]
    if folds_decided_by_libsvm(run.manifest):
        keys += SOLVER_SOURCES["libsvm"]  # where oneDAL's solution decided through libsvm's code (models/_onedal.py)
    if trained_by_epochs(run):
        recipe = recipe_of_run(run)
        keys += [*OPTIMIZER_SOURCES.get(recipe["optimizer"], []), *SCHEDULE_SOURCES.get(recipe["schedule"], []),
                 *EARLY_STOPPING_SOURCES, *TTA_SOURCES.get(recipe["tta"], []), *BACKEND_SOURCES["keras"],
                 *BACKEND_SOURCES.get(device.get("backend") or config.get("backend") or "tensorflow", [])]
    return keys


def caption_sources(runs, *extra: tuple[str, list[str]]) -> list[tuple[str, tuple[str, ...]]]:
    """What a table or figure caption cites for the runs it shows: ("data", keys), ("features", keys), ("models",
    keys), then ``extra`` groups (("tests", keys)); each in first-use order, empty groups left out."""
    groups = [("data", [k for r in runs for k in dataset_keys(r)]),
              ("features", [k for r in runs for k in feature_keys(r.metrics.get("features"))]),
              ("models", [k for r in runs for k in model_keys(r)]), *extra]
    return [(what, tuple(dict.fromkeys(keys))) for what, keys in groups if keys]


def references_for(runs) -> list[str]:
    """The citation keys of what ``runs`` used, in first-use order: datasets, features, models and how they were
    fitted (the paired tests come in with the significance tables that cite them: :func:`write_references`)."""
    keys = [k for run in runs for k in (*dataset_keys(run), *feature_keys(run.metrics.get("features")),
                                        *model_keys(run), *fitting_keys(run))]
    return list(dict.fromkeys(k for k in keys if k in ENTRIES))


#: ``\\citep{a,b}``, ``\\cite{a}``, ``\\citet[p.~3]{a}``...: the keys a LaTeX file cites.
CITATION = re.compile(r"\\cite[a-zA-Z]*\*?(?:\[[^\]]*\]){0,2}\{([^}]*)\}")


def cited_in(paths) -> list[str]:
    """Every key the LaTeX files ``paths`` cite, in order of first appearance."""
    keys = [key.strip() for path in paths for match in CITATION.finditer(Path(path).read_text(errors="replace"))
            for key in match.group(1).split(",")]
    return list(dict.fromkeys(k for k in keys if k))


def write_references(folder: Path, runs) -> list[str]:
    """Write ``folder/references.bib``: the entries of :func:`references_for`, then those of any other key that a
    LaTeX file the report wrote into ``folder`` cites (a caption's bootstrap, a file carried from an earlier build),
    so that every ``\\cite`` of every generated file finds its entry. Returns the keys."""
    folder = Path(folder)
    written = sorted([*folder.glob("*.tex"), *(folder / "tables").glob("*.tex")])
    keys = list(dict.fromkeys([*references_for(runs), *(k for k in cited_in(written) if k in ENTRIES)]))
    (folder / "references.bib").write_text("\n\n".join(ENTRIES[k] for k in keys) + "\n")
    return keys

"""The LaTeX a thesis ``\\input``'s fits its pages: every generated table, set in a plain
``\\documentclass{article}``, and report.tex as a whole compile with pdflatex without an overfull box of more than
1 pt; ``fer-bench report --pdf`` builds report.pdf, or says in one line why it cannot.

The worst realistic case is built for real, once per module: FER2013's official split (a PublicTest column) and
CK+ with its 7 long class names ("contempt", "sadness", "surprise"), each with svm-linear over two seeds (mean ±
std), svm-rbf on hog+landmark-distances and a 1-epoch CNN over two seeds (mini-xception; the test CNN on CK+), and
copies of the
svm-linear and CNN runs made on another SVM backend and another device, so that the report names variants
("svm-linear (svm_backend=onedal)", "mini-xception (device=GPU, precision=mixed_float16)"). The provenance quotes
inputs skipped under long paths, and "Runs not used" lists long run ids. The compiling tests skip where pdflatex
is not installed (CI installs it: see .ci/run).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.datasets import make_synthetic
from benchmark.errors import EXIT_FAILED, EXIT_USAGE
from benchmark.experiment import RunConfig, run_experiment
from benchmark.report import Table, build_report
from benchmark.report._tables import HEADING, KEY, Column, abbreviations

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: apt-get install "
                                                               "texlive-latex-recommended texlive-latex-extra)")
#: What a thesis needs in its preamble to \input the tables (README, "Cite"): booktabs, and natbib for the
#: captions' and methods' \citep.
THESIS_PREAMBLE = "\\usepackage{booktabs}\n\\usepackage{natbib}"
BIBTEX = shutil.which("bibtex")
#: Largest overfull box tolerated, in pt.
TOLERANCE_PT = 1.0
TABLES = [f"{dataset}_{table}" for dataset in ("fer2013_official", "ckplus_2fold")
          for table in ("summary", "per_class_f1", "confidence_intervals", "significance")]
TABLES.insert(1, "fer2013_official_without_duplicates")  # the official split's accuracy without duplicates
TABLES += ["fer2013_official_seed_ensembles", "ckplus_2fold_seed_ensembles"]  # the CNNs' two seeds


def _variant_copy(folder: Path, edit) -> None:
    """The run again under a later run id, with ``edit`` applied to its manifest (another platform)."""
    copy = folder.parent / ("29990101T000000000000Z" + folder.name[folder.name.index("_"):])
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _on_gpu(manifest: dict) -> None:
    manifest["training_device"] = {**manifest["training_device"], "device": "GPU", "precision": "mixed_float16"}


def _with_skipped_inputs(manifest: dict) -> None:
    manifest["dataset"]["skipped"] = [{"path": f"train/happy/scraped_from_a_mirror_without_any_spaces_{k:04d}.png",
                                       "reason": "unreadable image (UnidentifiedImageError)"} for k in range(4)]


@pytest.fixture(scope="module")
def reports(tmp_path_factory, learnable_fer_plan, write_fer_csv, write_ck48, tiny_cnn):
    """A reports folder holding the worst realistic case (see the module docstring), built into a report. CK+'s
    CNN is the test CNN (its display name is as wide as mini-Xception's; a published CNN costs seconds per fold)."""
    root = tmp_path_factory.mktemp("latex")
    plan, images = learnable_fer_plan
    data = {"fer2013": dict(data_dir=str(write_fer_csv(root / "fer2013.csv", plan, images=images))),
            "ck+": dict(data_dir=str(write_ck48(root / "CK+48")), folds=2, inner_folds=2)}
    runs = root / "reports" / "runs"
    for dataset, options in data.items():
        common = dict(dataset=dataset, reports_dir=str(root / "reports"), **options)
        for seed in (0, 1):
            run_experiment(RunConfig(model="svm-linear", features="hog", seed=seed, cache_dir=str(root / "c"),
                                     svm_backend="libsvm",
                                     **common))
        run_experiment(RunConfig(model="svm-rbf", features="hog+landmark-distances", cache_dir=str(root / "c"),
                                 **common))
        for seed in (0, 1):  # two seeds: the seed ensembles' table
            run_experiment(RunConfig(model="mini-xception" if dataset == "fer2013" else tiny_cnn, epochs=1, seed=seed,
                                     **common))
    for folder in sorted(runs.iterdir()):
        if "_svm-linear_" in folder.name:
            _variant_copy(folder, lambda m: m.update(svm_backend="onedal", svm_precision="float64",
                                                                   svm_threads=1))
        elif "_mini-xception_" in folder.name or f"_{tiny_cnn}_" in folder.name:
            _variant_copy(folder, _on_gpu)
    for folder in runs.glob("*_fer2013_*"):
        manifest = json.loads((folder / "manifest.json").read_text())
        _with_skipped_inputs(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (runs / ".incomplete-20260101T000000000000Z_fer2013_svm-poly_hog+landmark-distances_s7_0123456789").mkdir()
    build_report(root / "reports")
    return root / "reports"


def overfull_of_inputs(folder: Path, inputs: list[Path], preamble: str = THESIS_PREAMBLE,
                       bibliography: Path | None = None) -> list[float]:
    """:func:`overfull_pt` of a plain 10 pt article (with ``preamble``) that ``\\input``s each file, a page each;
    with ``bibliography`` (a references.bib), its entries are the article's bibliography (natbib's plainnat): the
    article is compiled, bibtex run, and compiled twice more, as a thesis is."""
    document = folder / "thesis.tex"
    if bibliography is not None:
        shutil.copyfile(bibliography, folder / "references.bib")
    document.write_text("\\documentclass{article}\n" + preamble + "\n\\begin{document}\n"
                        + "\\clearpage\n".join(f"\\input{{{p.as_posix()}}}\n" for p in inputs)
                        + ("\\bibliographystyle{plainnat}\n\\bibliography{references}\n" if bibliography else "")
                        + "\\end{document}\n")
    if bibliography is None:
        return overfull_pt(document)
    overfull_pt(document)
    subprocess.run([BIBTEX, document.stem], cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    overfull_pt(document)
    return overfull_pt(document)


def overfull_pt(tex: Path) -> list[float]:
    """Compile ``tex`` in its folder with pdflatex; the widths by which its boxes are overfull (pt)."""
    result = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    log = tex.with_suffix(".log").read_text(errors="replace")
    assert result.returncode == 0, f"pdflatex failed on {tex.name}:\n{log[-2000:]}"
    return [float(pt) for pt in re.findall(r"Overfull \\[hv]box \(([0-9.]+)pt too (?:wide|high)\)", log)]


@pytest.mark.slow
def test_the_worst_case_is_real(reports):
    """The fixture makes what widens a table: variants, seeds, a PublicTest column, long features and classes."""
    assert sorted(p.stem for p in (reports / "tables").glob("*.tex")
                  if not p.stem.endswith(("_confusion", "_methods"))) == sorted(TABLES)
    summary = (reports / "tables" / "fer2013_official_summary.md").read_text()
    for text in ("SVM, linear kernel (svm_backend=onedal)", "mini-Xception (device=GPU, precision=mixed_float16)",
                 "hog+landmark-distances", "PublicTest acc. (%)", " ± ", "Ran on", "| oneDAL |", "| libsvm |",
                 "| oneDNN fp32 |", "| GPU mixed fp16 |"):
        assert text in summary, text
    assert "contempt" in (reports / "tables" / "ckplus_2fold_per_class_f1.md").read_text()
    assert "mirror\\_without\\_any\\_spaces" in (reports / "report.tex").read_text()


@pytest.mark.slow
@needs_pdflatex
@pytest.mark.parametrize("name", TABLES)
def test_each_table_fits_a_plain_article(reports, tmp_path, name):
    overfull = overfull_of_inputs(tmp_path, [reports / "tables" / f"{name}.tex"])
    assert max(overfull, default=0.0) <= TOLERANCE_PT, (name, overfull)


@pytest.mark.slow
@needs_pdflatex
def test_every_confusion_matrix_table_fits_a_plain_article(reports, tmp_path):
    """One table per experiment (its figure's counts): all of them, in one document, without an overfull box."""
    tables = sorted((reports / "tables").glob("*_confusion.tex"))
    assert len(tables) >= 8  # every run of the worst case, its variants included
    overfull = overfull_of_inputs(tmp_path, tables)
    assert max(overfull, default=0.0) <= TOLERANCE_PT, overfull


@pytest.mark.slow
@needs_pdflatex
def test_provenance_tex_inputs_into_a_plain_article(reports, tmp_path):
    overfull = overfull_of_inputs(tmp_path, [reports / "provenance.tex"], preamble="")
    assert max(overfull, default=0.0) <= TOLERANCE_PT, overfull


@pytest.mark.slow
@needs_pdflatex
@pytest.mark.skipif(BIBTEX is None, reason="bibtex is not installed (Debian: apt-get install texlive-binaries)")
def test_methods_and_captions_input_into_a_plain_article_with_natbib_and_references_bib(reports, tmp_path):
    """Each section's methods paragraphs and every table, \\input into a plain 10 pt article with natbib whose
    bibliography is the report's references.bib: bibtex finds every key they cite (no undefined citation), and
    nothing sticks out of the margin."""
    methods = sorted((reports / "tables").glob("*_methods.tex"))
    assert [p.name for p in methods] == ["ckplus_2fold_methods.tex", "fer2013_official_methods.tex"]
    overfull = overfull_of_inputs(tmp_path, [*methods, *(reports / "tables" / f"{name}.tex" for name in TABLES)],
                                  bibliography=reports / "references.bib")
    log = (tmp_path / "thesis.log").read_text(errors="replace")
    assert not re.findall(r"Citation `[^']*' .*undefined", log) and "undefined citations" not in log, log[-2000:]
    cited = set(re.findall(r"\\bibitem\[[^\]]*\]\{([^}]+)\}", (tmp_path / "thesis.bbl").read_text()))
    assert {"lucey2010", "goodfellow2013", "dalal2005", "cortes1995", "arriaga2017", "kingma2015", "mcnemar1947",
            "nadeau2003", "efron1979"} <= cited
    assert max(overfull, default=0.0) <= TOLERANCE_PT, overfull


@pytest.mark.slow
@needs_pdflatex
def test_the_whole_report_compiles_without_an_overfull_box(reports, tmp_path):
    copy = tmp_path / "reports"
    shutil.copytree(reports, copy, ignore=shutil.ignore_patterns("runs"))
    overfull = overfull_pt(copy / "report.tex")
    assert max(overfull, default=0.0) <= TOLERANCE_PT, overfull


# --------------------------------------------------------------------------------------------- the LaTeX layout

def test_latex_layout_marks_variants_and_gathers_rows_under_headings():
    """Markdown keeps every column and label; LaTeX prints the short headers, sub-headings and lettered variants
    with a legend, and moves a column to its own float."""
    table = Table("x_summary", "caption", [Column("Model", "l", tex=KEY), Column("Features", "l", tex=HEADING),
                                           Column("Accuracy (%)", short="Acc.", means="accuracy (%)"),
                                           Column("Train time (s)", tex="cost")],
                  floats={"cost": "training time"})
    table.groups.append(("classical", [["svm-rbf (svm_backend=onedal)", "hog", "61.3 ± 0.4", "12"],
                                       ["svm-linear", "lbp", "58.0", "3"], ["svm-rbf", "hog", "60.0", "9"]]))
    table.mark("svm-rbf (svm_backend=onedal)", "svm-rbf", "a", "svm_backend=onedal")
    tex = table.to_tex()
    main, cost = tex.split("\\end{table}")[:2]
    assert "Model & Acc. \\\\" in main and "Train time" not in main
    assert (main.index("{Features: hog}") < main.index("svm-rbf & 60.0") < main.index("{Features: lbp}")
            < main.index("svm-linear &"))
    assert "svm-rbf\\textsuperscript{a} & 61.3 $\\pm$ 0.4" in main
    assert "Acc.: accuracy (\\%)." in main and "Variants: \\textsuperscript{a}\\,svm\\_backend=onedal." in main
    assert "\\label{tab:x-summary-cost}" in cost and "Model & Train time (s) \\\\" in cost
    assert "| svm-rbf (svm_backend=onedal) | hog | 61.3 ± 0.4 | 12 |" in table.to_md()


def test_class_abbreviations_are_distinct():
    assert abbreviations(["anger", "contempt", "sadness", "surprise"]) == ["ang", "con", "sad", "sur"]
    assert abbreviations(["Sad", "Sadness", "Surprise"]) == ["Sad", "Sadn", "Sur"]


# ------------------------------------------------------------------------------------------------ report --pdf

@pytest.fixture
def small_reports(tmp_path):
    """A reports folder with one svm-linear run on a small synthetic set."""
    reports = tmp_path / "reports"
    run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="hog", folds=2, inner_folds=2,
                             reports_dir=str(reports), cache_dir=str(tmp_path / "cache")),
                   dataset=make_synthetic(n_subjects=4, images_per_class=2, seed=1))
    return reports


def _error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_pdf_without_pdflatex_fails_before_building_anything(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    (reports / "runs").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(reports), "--pdf"])
    assert result.exit_code == EXIT_USAGE, result.output  # not 1, "no complete runs": checked first
    assert len(_error_lines(result)) == 1
    assert "pdflatex" in result.output and "texlive-latex-recommended" in result.output
    assert sorted(p.name for p in reports.iterdir()) == ["runs"]


@pytest.mark.slow
def test_pdf_when_latex_fails_names_report_log(small_reports, tmp_path, monkeypatch):
    """A pdflatex that fails (here a stand-in script) gives one error line naming report.log, exit 1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pdflatex"
    fake.write_text("#!/bin/sh\nprintf '! LaTeX Error: File `booktabs.sty'\"'\"' not found.\\n' > .pdf-build/report.log\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(small_reports), "--pdf"])
    assert result.exit_code == EXIT_FAILED, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and "report.log" in errors[0] and "booktabs.sty" in errors[0], result.output
    assert (small_reports / "report.tex").is_file() and not (small_reports / "report.pdf").exists()


@needs_pdflatex
@pytest.mark.slow
def test_pdf_builds_report_pdf(small_reports):
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(small_reports), "--pdf"])
    assert result.exit_code == 0, result.output
    assert (small_reports / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "report.pdf" in result.output
    beside = {p.name for p in small_reports.iterdir()}
    assert not {name for name in beside if name.endswith((".aux", ".log", ".out"))} and ".pdf-build" not in beside
    assert "\\usepackage[a4paper,margin=2cm]{geometry}" in (small_reports / "report.tex").read_text()


def test_paper_letter_sets_the_page_size_and_a_bad_size_is_one_line(small_reports):
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(small_reports), "--paper", "letter"])
    assert result.exit_code == 0, result.output
    assert "\\usepackage[letterpaper,margin=2cm]{geometry}" in (small_reports / "report.tex").read_text()
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(small_reports), "--paper", "a5"])
    assert result.exit_code == EXIT_USAGE and _error_lines(result) == ["error: --paper must be a4 or letter, got 'a5'"]

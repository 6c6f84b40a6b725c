"""The commands the docs show parse as written: every `bookclip ...` line of every page under docs/ and of
the README through the real argument parser, every `--bookclip-*` option of a `pytest suites/` line against
the plugin's options; the README stays what a visitor reads first and links the pages."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]
SHELL_FENCES = {"", "bash", "sh", "shell", "console", "text"}


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def code_lines(page: Path) -> list[str]:
    """The page's shell code: indented lines outside fences and the lines of shell-like fenced blocks,
    with `\\` continuations joined."""
    lines: list[str] = []
    fence: str | None = None  # the language of the open fenced block
    for line in page.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].split()[0] if stripped[3:].strip() else ""
            continue
        if fence is not None:
            if fence in SHELL_FENCES:
                lines.append(line)
        elif line.startswith("    "):
            lines.append(line)
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    return joined


def commands(page: Path, program: str) -> list[list[str]]:
    """Each command line of `program` in the page's code (indented lines, shell blocks and workflow
    `run:` steps), cut at the first shell operator; `[...]` marks an optional part and is left out."""
    found = []
    for line in code_lines(page):
        text = re.sub(r"^\s*(- )?(run: )?", "", line)
        for part in re.split(r"&&|\|\||;", text):
            part = part.strip()
            if part.startswith(program + " "):
                part = re.sub(r"\s\[[^\]]*\]", "", part.split(" >", 1)[0].split(" |", 1)[0])
                tokens = shlex.split(part, comments=True)
                found.append([t for t in tokens if "${{" not in t])
    return found


def test_the_docs_pages_exist_and_the_readme_links_them():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES if DOCS in p.parents}
    assert {"ci.md", "mlflow.md", "index.md"} <= names
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("ci.md", "mlflow.md", "tutorial/first-run.md", "how-to/add-metric.md", "reference/cli.md"):
        assert f"docs/{name}" in readme


def test_the_readme_is_what_a_visitor_reads_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    setup = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.14.1 torchvision==0.29.1 "
        "&& pip install -e '.[test]' && pytest suites/"
    )
    assert f"\n    {setup}\n" in readme
    assert "\n    . .venv/bin/activate && python -m pytest tests/\n" in readme


def test_every_readme_link_names_a_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if "://" not in target:
            assert (ROOT / target).is_file(), f"README links {target}, which does not exist"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_documented_bookclip_command_parses(page):
    lines = commands(page, "bookclip")
    for tokens in lines:
        try:
            build_parser().parse_args(tokens[1:])
        except SystemExit as exc:
            pytest.fail(f"{page_id(page)}: `{' '.join(tokens)}` does not parse (exit {exc.code})")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_documented_suites_option_exists(page):
    from harness import plugin

    known = {flag for flag, _key, _help in plugin._OPTIONS} | {"--bookclip-mlflow"}
    for tokens in commands(page, "pytest"):
        for token in tokens:
            flag = token.split("=", 1)[0]
            if flag.startswith("--bookclip-"):
                assert flag in known, f"{page_id(page)}: {flag} is not a plugin option"


def test_the_commands_are_found():
    """The extraction sees indented lines, fenced shell blocks, continuations and workflow steps."""
    total = sum(len(commands(page, "bookclip")) for page in PAGES)
    assert total >= 40
    joined = [t for page in PAGES for t in commands(page, "bookclip") if t[1:2] == ["interpolate"]]
    assert any("--save-alpha" in tokens for tokens in joined)  # a command continued over two lines


def test_the_ci_pages_workflow_caches_runs_the_suites_uploads_and_posts_the_summary():
    """docs/ci.md's GitHub Actions workflow, read as YAML: it caches ~/.cache/bookclip, runs the suites
    with the JUnit flags tests/test_plugin.py runs them with, uploads reports/ and posts the Markdown."""
    import textwrap

    import yaml

    text = (DOCS / "ci.md").read_text(encoding="utf-8")
    assert 'junit_family = "xunit1"' in text and "-o junit_family=xunit1" in text
    section = text.split("## A GitHub Actions workflow", 1)[1].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("    name: "))
    block = []
    for line in section[start:]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    steps = yaml.safe_load(textwrap.dedent("\n".join(block)))["jobs"]["gates"]["steps"]
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    runs = [step["run"] for step in steps if "run" in step]
    assert uses["actions/cache"]["with"]["path"] == "~/.cache/bookclip"
    assert "pytest suites/ --junitxml=reports/junit.xml -o junit_family=xunit1" in runs
    assert (
        uses["actions/upload-artifact"]["with"]["path"] == "reports/"
        and "always()" in uses["actions/upload-artifact"]["if"]
    )
    (post,) = [run for run in runs if "gh pr comment" in run]
    assert (
        "bookclip report reports/run.json --format markdown > comment.md" in post and "--body-file comment.md" in post
    )


# --------------------------------------------------------------------------- the how-to "add a metric"

BLOCK = re.compile(r"^```(?P<lang>\w*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def page_blocks(page: Path) -> tuple[dict[str, str], list[str]]:
    """A page's files (fenced blocks with `title="PATH"`) and its shell blocks (```bash), in order."""
    files: dict[str, str] = {}
    shell: list[str] = []
    for match in BLOCK.finditer(page.read_text(encoding="utf-8")):
        title = re.search(r'title="([^"]+)"', match["attrs"])
        if title:
            files[title.group(1)] = match["body"]
        elif match["lang"] == "bash":
            shell.append(match["body"])
    return files, shell


def throwaway_environment(root: Path) -> dict[str, str]:
    """A virtual environment in `root` that sees this one's packages (bookclip among them) but installs
    into its own folder, so `pip install -e .` there leaves the project's environment as it was. Its
    `pip` and `bookclip` are this interpreter's, run by the throwaway one."""
    import importlib.util
    import os
    import site
    import subprocess
    import sys
    import sysconfig

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()] or [sysconfig.get_paths()["purelib"]]
    Path(purelib, "outer_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in outer), encoding="utf-8"
    )
    scripts = {"pip": "from pip._internal.cli.main import main", "bookclip": "from harness.cli import main"}
    for name, entry in scripts.items():
        script = venv / "bin" / name
        script.write_text(f"#!{python}\nimport sys\n{entry}\nsys.exit(main())\n", encoding="utf-8")
        script.chmod(0o755)
    outer_bin = str(Path(sys.executable).parent)
    path = [str(venv / "bin")] + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p != outer_bin]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=os.pathsep.join(path), VIRTUAL_ENV=str(venv), BOOKCLIP_CACHE_DIR=str(root / "cache"))
    env.update(PYTHONWARNINGS="ignore")
    if importlib.util.find_spec("setuptools") is not None:  # build offline with the setuptools that is here
        env.update(
            PIP_NO_INDEX="1",  # the package's one dependency, bookclip-harness, is installed already
            PIP_NO_BUILD_ISOLATION="0",  # pip reads "0" as: no isolation
        )
        if sys.version_info < (3, 12):  # the outer setuptools' distutils shim is not installed in time
            env["SETUPTOOLS_USE_DISTUTILS"] = "stdlib"
    return env


def follow(page: Path, tmp_path: Path) -> tuple[Path, str]:
    """Do what a how-to page says, word for word: write its files as shown into a new project, install
    nothing but what its shell block installs (into a throwaway environment), run the shell block as
    shown. Returns the project folder and the block's output."""
    import subprocess

    files, shell = page_blocks(page)
    assert files and len(shell) == 1, f"{page_id(page)}: expected files and one shell block"
    project = tmp_path / "project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text, encoding="utf-8")
    env = throwaway_environment(tmp_path)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell[0]], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{page_id(page)}:\n{done.stdout}{done.stderr}"
    return project, done.stdout


@pytest.mark.slow
def test_the_how_to_add_a_metric_works_word_for_word(tmp_path):
    """The metric a package declares in an entry point is evaluated and reported, in both directions."""
    import json

    project, output = follow(DOCS / "how-to" / "add-metric.md", tmp_path)
    for direction in ("image_to_text", "text_to_image"):
        assert f"all/{direction}/log2_rank ↓" in output
    metrics = json.loads((project / "reports" / "eval.json").read_text(encoding="utf-8"))["metrics"]
    (estimates,) = metrics.values()
    assert estimates["all/image_to_text/log2_rank"]["value"] > 0
    assert estimates["all/text_to_image/log2_rank"]["interval"] == "bca"
    # the project's own environment did not get the package
    from importlib.metadata import entry_points

    assert "log2_rank" not in {ep.name for ep in entry_points(group="bookclip.metrics")}


@pytest.mark.slow
def test_the_how_to_add_a_probe_family_works_word_for_word(tmp_path):
    import json

    project, output = follow(DOCS / "how-to" / "add-probe-family.md", tmp_path)
    assert "dropped_vowels" in output
    report = json.loads((project / "reports" / "probes.json").read_text(encoding="utf-8"))
    (estimates,) = report["metrics"].values()
    assert "probes/dropped_vowels/flip_rate" in estimates


@pytest.mark.slow
def test_the_how_to_add_a_model_spec_scheme_works_word_for_word(tmp_path):
    project, output = follow(DOCS / "how-to" / "add-spec-scheme.md", tmp_path)
    assert "runs:first (runs)" in output
    assert (project / "runs" / "first" / "model.safetensors").is_file()


# --------------------------------------------------------------------------- the generated reference


def generated():
    """docs/hooks/generated.py, the build hook that writes the reference tables."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "hooks" / "generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_reference_names_every_command_key_and_metric():
    import dataclasses

    from harness.config import RunConfig
    from harness.evaluate.metrics import metrics
    from harness.finetune.config import FinetuneConfig

    hook = generated()
    cli = hook.cli_reference()
    parser = build_parser()
    for name, sub in hook._subcommands(parser):
        assert f"## `bookclip {name}`" in cli
        for child, _ in hook._subcommands(sub):
            assert f"`bookclip {name} {child}`" in cli
    assert "%%" not in "".join(line for line in cli.splitlines() if line.startswith("| `"))
    config = hook.run_config_reference()
    for field in dataclasses.fields(RunConfig):
        assert f"| `{field.name}` |" in config
    finetune = hook.finetune_config_reference()
    for field in dataclasses.fields(FinetuneConfig):
        assert f"| `{field.name}` |" in finetune
    table = hook.metrics_reference()
    for metric in metrics():
        assert f"| `{metric.name}` |" in table


def test_every_generated_marker_of_the_pages_is_known():
    hook = generated()
    for page in PAGES:
        for match in hook.MARKER.finditer(page.read_text(encoding="utf-8")):
            assert match["name"] in hook.GENERATORS, f"{page_id(page)}: unknown table {match['name']!r}"

"""Build hook: a wheel built from a git checkout carries the commit it was built from
(bench/_build_info.py, read by bench/version.py), so its rows name the commit. Everything else is
in pyproject.toml."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithCommit(build_py):
    def run(self):
        super().run()
        spec = importlib.util.spec_from_file_location("_mannbench_version", ROOT / "bench" / "version.py")
        version = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(version)
        commit = version.git_commit(ROOT) or "unknown"
        target = Path(self.build_lib) / "bench" / "_build_info.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f'"""Written when this wheel was built (setup.py)."""\n\nGIT_COMMIT = {commit!r}\n')


setup(cmdclass={"build_py": BuildPyWithCommit})

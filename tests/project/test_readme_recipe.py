"""The README's recipe (your own model on the fraud stream) runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = "### Recipe: your own model on the fraud stream"


def _recipe() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADING in text, "the README lost its recipe section"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the recipe section holds one python block"
    return blocks[0]


def test_readme_recipe_is_about_fifteen_lines_of_code():
    code = [line for line in _recipe().splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "from ", "import "))]
    assert len(code) <= 20, code


def test_readme_recipe_runs_and_scores_a_model_prequentially(capsys):
    namespace: dict = {}
    exec(compile(_recipe(), "README.md recipe", "exec"), namespace)  # noqa: S102 (our README)
    scores, df = namespace["scores"], namespace["df"]
    assert scores.n == len(df)  # every label met the prediction made before it
    values = scores.values()
    assert 0.5 < values["roc_auc"] <= 1 and 0 < values["avg_precision"] <= 1
    assert "roc_auc" in capsys.readouterr().out

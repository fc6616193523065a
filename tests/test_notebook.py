"""The quick-start notebook runs end to end in a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def _outputs(cell) -> str:
    """The text a code cell printed or displayed."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            texts.append(output["text"])
        elif "data" in output:
            texts.append(output["data"].get("text/plain", ""))
    return "".join(texts)


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
    """Every cell runs without error (its own asserts compare dmltk with
    scikit-learn); the key outputs are there."""
    # The notebook starts its own 2-worker local cluster.
    monkeypatch.delenv("DMLTK_SCHEDULER", raising=False)
    # Jupyter's inline backend draws the figures as PNG outputs.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError if any cell fails
    printed = "\n".join(_outputs(cell) for cell in notebook.cells)
    assert "dashboard: http://" in printed
    assert "layout='rows', grid=(4, 1)" in printed  # dmltk.placement
    assert "largest coefficient difference" in printed
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 2  # the objective history and the ROC curve
    assert list(tmp_path.iterdir()) == []  # the notebook cleans up after itself

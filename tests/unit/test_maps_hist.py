"""Histogram text and plots from int -> int maps (a fake funnel: no kernel needed)."""

from __future__ import annotations

import pytest

from pyebpf import maps as M
from pyebpf.types import u32, u64


class _Hist(M.HashMap):
    """A hash map whose items() come from a dict instead of the kernel."""

    def __init__(self, counts: dict[int, int]) -> None:
        super().__init__(u32, u64, 64, name="lat")
        self._counts = counts

    def items(self):  # type: ignore[override]
        return list(self._counts.items())


def test_linear_hist_text_buckets_by_step():
    text = _Hist({0: 3, 1: 10, 3: 1}).linear_hist_text("usecs", step=10, width=10)
    assert text.splitlines() == [
        "               usecs : count     distribution",
        "       0 -> 9        : 3         |***       |",
        "      10 -> 19       : 10        |**********|",
        "      20 -> 29       : 0         |          |",
        "      30 -> 39       : 1         |*         |",
    ]
    assert _Hist({2: 1}).linear_hist_text(width=4).splitlines()[1] == "       2 : 1         |****|"
    assert _Hist({}).linear_hist_text() == ""
    with pytest.raises(ValueError, match="step"):
        M.format_linear_hist({1: 1}, step=0)


def test_print_linear_hist(capsys):
    _Hist({1: 2}).print_linear_hist(step=5)
    assert "5 -> 9" in capsys.readouterr().out


def test_hist_needs_int_keys():
    h = _Hist({})
    h._counts = {b"x": 1}  # type: ignore[dict-item]
    with pytest.raises(M.MapTypeError, match="int keys"):
        h.linear_hist_text()


def test_plot_returns_a_figure():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = _Hist({0: 1, 1: 2, 4: 8}).plot()
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [3, 0, 0, 8]  # slot 0 joins slot 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0-1", "2", "4", "8"]
    lin = _Hist({2: 5, 4: 1}).plot("linear", step=10, val_type="ms")
    assert [p.get_height() for p in lin.axes[0].patches] == [5, 0, 1]
    assert "step 10" in lin.axes[0].get_xlabel()
    plt.close("all")


def test_plot_without_matplotlib_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        _Hist({1: 1}).plot()

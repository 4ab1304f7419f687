"""Run artifacts as PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def silhouette_curve(curve: dict[int, float], chosen: int):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = sorted(curve)
    ax.plot(ks, [curve[k] for k in ks], marker="o")
    ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen k={chosen}")
    ax.set(xlabel="k", ylabel="silhouette (training users)", title="KMeans: silhouette by k")
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(confusion: dict[tuple[str, str], int], labels: list[str]):
    grid = [[confusion.get((t, p), 0) for p in labels] for t in labels]
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(grid, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(grid):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="Activity type: test confusion matrix")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def residuals(predicted: list[float], actual: list[float], title: str):
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    res = [y - p for y, p in zip(actual, predicted)]
    a.scatter(predicted, res, s=6, alpha=0.5)
    a.axhline(0, color="grey")
    a.set(xlabel="predicted calories", ylabel="actual - predicted", title=title)
    b.hist(res, bins=40)
    b.set(xlabel="residual", ylabel="test rows", title="residual distribution")
    fig.tight_layout()
    return fig


def bars(values: dict[str, float], title: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(list(values), list(values.values()))
    ax.set(title=title, ylabel=ylabel)
    fig.tight_layout()
    return fig

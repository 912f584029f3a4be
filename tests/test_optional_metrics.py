"""LPIPS, FID and VBench: the Fréchet distance against closed forms, and the harness computing each metric when its
scorer is present and reporting it skipped, with the reason, when not. The real networks (torchvision's AlexNet,
the FID Inception, VBench's models) cannot load on this CPU machine; stand-in scorers check the plumbing. And
the PSNR/SSIM kept beside each video for reruns."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch

from evaluation.harness import Job, OptionalMetrics, score, summarise, write_tables
from evaluation.perceptual import PooledGaussian, frechet_distance, gaussian, load_optional, video_fid


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def test_frechet_distance_equals_the_closed_form_for_covariances_of_one_eigenbasis():
    g = np.random.default_rng(0)
    d = 6
    mu1, mu2 = g.normal(size=d), g.normal(size=d)
    l1, l2 = g.uniform(0.2, 3, d), g.uniform(0.2, 3, d)
    q = _rotation(d, 1)  # both covariances share it, so sqrt(S1 S2) = Q sqrt(L1 L2) Q^T (not diagonal)
    s1, s2 = q @ np.diag(l1) @ q.T, q @ np.diag(l2) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(l1 + l2 - 2 * np.sqrt(l1 * l2))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_per_video_fid_is_the_distance_between_the_two_videos_gaussians():
    g = np.random.default_rng(2)
    a, b = g.normal(size=(40, 4)), g.normal(1.0, 2.0, size=(40, 4))
    mu_a, cov_a = a.mean(0), np.cov(a.T)
    mu_b, cov_b = b.mean(0), np.cov(b.T)
    assert video_fid(a, b) == pytest.approx(frechet_distance(mu_a, cov_a, mu_b, cov_b), rel=1e-12)
    assert video_fid(a, b) > 4 * 0.9  # mean shift of 1 in four dimensions at least, minus sampling noise


def test_the_pooled_gaussian_equals_the_moments_of_all_features_together():
    g = np.random.default_rng(3)
    parts = [g.normal(size=(n, 5)) for n in (7, 12, 3)]
    pool = PooledGaussian()
    for p in parts:
        pool.add(p)
    mu, cov = pool.moments()
    mu_all, cov_all = gaussian(np.concatenate(parts))
    assert np.allclose(mu, mu_all) and np.allclose(cov, cov_all)


@pytest.mark.parametrize("name", ["lpips", "fid"])
def test_a_missing_package_is_a_skip_reason(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "lpips" if name == "lpips" else "pytorch_fid", None)  # import fails
    metric, reason = load_optional(name, torch.device("cpu"))
    assert metric is None and "not importable" in reason and "pip install" in reason


def _write_job(run, job, frames):
    import imageio.v3 as iio

    stem = job.stem(run)
    stem.parent.mkdir(parents=True, exist_ok=True)
    np.save(stem.with_suffix(".npy"), frames)
    iio.imwrite(stem.with_suffix(".mp4"), frames, fps=8, extension=".mp4")
    record = {"method": job.method, "prompt": job.prompt, "index": job.index, "seed": job.seed, "latency_s": 1.0}
    record.update(theoretical_speedup=1.0, end_to_end_s=1.0, block_evals_computed=None, cache_bytes_peak=0)
    stem.with_suffix(".json").write_text(json.dumps(record))


@pytest.fixture()
def run(tmp_path):
    g = np.random.default_rng(4)
    jobs = []
    for method, noise in (("full", 0), ("ours", 12), ("fg-reuse", 40)):
        for i in range(2):
            base = np.random.default_rng(10 + i).integers(40, 200, (6, 32, 32, 3))
            frames = np.clip(base + g.integers(-noise, noise + 1, base.shape), 0, 255).astype(np.uint8)
            job = Job(method, None, i, f"prompt {i}", i)
            _write_job(tmp_path, job, frames)
            jobs.append(job)
    return tmp_path, jobs


def _lpips_stand_in(ref, out):
    return float(np.abs(ref.astype(float) - out).mean() / 255)


def _features_stand_in(frames):
    """[F, 4]: per-frame channel means and the frame's standard deviation."""
    f = frames.astype(float) / 255
    return np.concatenate([f.mean(axis=(1, 2)), f.std(axis=(1, 2, 3))[:, None]], axis=1)


def test_scores_use_the_optional_metrics_when_present(run):
    from evaluation.metrics import read_mp4

    path, jobs = run
    optional = OptionalMetrics(lpips=_lpips_stand_in, features=_features_stand_in)
    rows = score(jobs, path, optional=optional)
    by = {(r["method"], r["index"]): r for r in rows}
    ref = read_mp4(path / "videos/full/001_seed1.mp4")
    out = read_mp4(path / "videos/fg-reuse/001_seed1.mp4")
    assert by["fg-reuse", 1]["lpips"] == pytest.approx(_lpips_stand_in(ref, out))  # on the mp4 frames
    assert by["fg-reuse", 1]["fid"] == pytest.approx(video_fid(_features_stand_in(ref), _features_stand_in(out)))
    assert by["full", 0]["lpips"] is None and by["full", 0]["fid"] is None
    assert by["ours", 0]["lpips"] < by["fg-reuse", 0]["lpips"]  # less noise, closer

    refs = np.concatenate([_features_stand_in(read_mp4(path / f"videos/full/00{i}_seed{i}.mp4")) for i in range(2)])
    ours = np.concatenate([_features_stand_in(read_mp4(path / f"videos/ours/00{i}_seed{i}.mp4")) for i in range(2)])
    assert optional.pooled_fid["ours"] == pytest.approx(frechet_distance(*gaussian(refs), *gaussian(ours)), rel=1e-6)
    assert set(optional.pooled_fid) == {"ours", "fg-reuse"}

    summary = summarise(rows, optional)
    write_tables(summary, path, "# test", optional.skipped)
    table = (path / "tables.md").read_text()
    ours_line = next(line for line in table.splitlines() if line.startswith("| ours |"))
    cells = [c.strip() for c in ours_line.split("|")[1:-1]]
    mean_lpips = np.mean([by["ours", i]["lpips"] for i in range(2)])
    assert cells[2] == f"{mean_lpips:.4f}" and cells[6] == f"{optional.pooled_fid['ours']:.2f}"
    assert cells[1] == "-"  # VBench neither computed nor skipped here
    assert "Skipped metrics" not in table


def test_absent_metrics_are_skipped_with_their_reason(run):
    path, jobs = run
    optional = OptionalMetrics(skipped={"lpips": "lpips not importable (x)", "fid": "f", "vbench": "--skip_metrics"})
    rows = score(jobs, path, optional=optional)
    assert all(r["lpips"] is None and r["fid"] is None for r in rows) and optional.pooled_fid == {}
    write_tables(summarise(rows, optional), path, "# test", optional.skipped)
    table = (path / "tables.md").read_text()
    cells = [c.strip() for c in next(ln for ln in table.splitlines() if ln.startswith("| ours |")).split("|")[1:-1]]
    assert cells[1] == cells[2] == cells[5] == cells[6] == "skipped"
    assert "- lpips: lpips not importable (x)" in table and "- vbench: --skip_metrics" in table


def test_a_rerun_reads_the_kept_scores_and_scores_again_what_was_remade(run, monkeypatch):
    import evaluation.harness as harness

    path, jobs = run
    first = {(r["method"], r["index"]): r for r in score(jobs, path)}
    scored = []
    real = harness.video_ssim
    monkeypatch.setattr(harness, "video_ssim", lambda ref, out: scored.append(1) or real(ref, out))
    assert {(r["method"], r["index"]): r for r in score(jobs, path)} == first and scored == []

    # a remade video is scored again (SSIM on the frames and on the mp4), and only it
    ours0 = next(j for j in jobs if (j.method, j.index) == ("ours", 0))
    _write_job(path, ours0, 255 - np.load(ours0.stem(path).with_suffix(".npy")))
    rows = {(r["method"], r["index"]): r for r in score(jobs, path)}
    assert len(scored) == 2 and rows["ours", 0]["psnr"] < first["ours", 0]["psnr"] - 10
    # a remade reference: every video of its prompt is scored again
    full1 = next(j for j in jobs if (j.method, j.index) == ("full", 1))
    _write_job(path, full1, 255 - np.load(full1.stem(path).with_suffix(".npy")))
    rows = {(r["method"], r["index"]): r for r in score(jobs, path)}
    assert len(scored) == 2 + 4 and rows["ours", 1]["psnr"] < first["ours", 1]["psnr"] - 10
    # LPIPS and FID are never kept: with them every video is scored
    score(jobs, path, optional=OptionalMetrics(lpips=_lpips_stand_in, features=_features_stand_in))
    assert len(scored) == 6 + 2 * 4


def test_vbench_scores_exactly_the_runs_videos_once(run, monkeypatch):
    from evaluation.vbench_score import DIMENSIONS, load_vbench

    path, jobs = run
    extra = path / "videos/ours/009_seed9.mp4"  # from an earlier run with more prompts: not this run's
    extra.write_bytes((path / "videos/ours/000_seed0.mp4").read_bytes())
    calls = []

    class FakeVBench:
        def __init__(self, device, full_info_dir, output_path):
            self.output_path = output_path

        def evaluate(self, videos_path, name, dimension_list, mode):
            files = sorted(p.name for p in __import__("pathlib").Path(videos_path).iterdir())
            calls.append((name, files, mode))
            results = {d: [0.1 * (k + 1), []] for k, d in enumerate(dimension_list)}
            (__import__("pathlib").Path(self.output_path) / f"{name}_eval_results.json").write_text(json.dumps(results))

    fake = types.ModuleType("vbench")
    fake.VBench = FakeVBench
    fake.__file__ = str(path / "vbench_stand_in.py")
    monkeypatch.setitem(sys.modules, "vbench", fake)
    scorer, reason = load_vbench("cpu", path)
    assert reason is None
    optional = OptionalMetrics(vbench=scorer)
    score(jobs, path, optional=optional)
    assert [c[0] for c in calls] == ["full", "ours", "fg-reuse"]
    assert calls[1][1] == ["000_seed0.mp4", "001_seed1.mp4"] and calls[1][2] == "custom_input"
    scores = optional.vbench_scores["ours"]
    assert [scores[d] for d in DIMENSIONS] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert scores["vbench"] == pytest.approx(0.35)

    score(jobs, path, optional=OptionalMetrics(vbench=scorer))  # a rerun: the same videos, nothing scored again
    assert len(calls) == 3
    write_tables(summarise(score(jobs, path, optional=optional), optional), path, "# t", {"lpips": "x", "fid": "y"})
    table = (path / "tables.md").read_text()
    assert "## VBench dimensions" in table and "| ours | 0.1000 | 0.2000 | 0.3000 |" in table
    assert next(ln for ln in table.splitlines() if ln.startswith("| ours |")).split("|")[2].strip() == "0.3500"


def test_vbench_missing_is_a_skip_reason(monkeypatch, tmp_path):
    from evaluation.vbench_score import load_vbench

    monkeypatch.setitem(sys.modules, "vbench", None)
    scorer, reason = load_vbench("cpu", tmp_path)
    assert scorer is None and "vbench not importable" in reason

"""The real libraries' caches in the harness (`evaluation/libraries.py`, `reproduce.py --via diffusers`): block
evaluations counted from outside, our re-implementations against the libraries at equal settings, the optional
library's absence."""

from __future__ import annotations

import functools
import importlib.util

import pytest
import torch
from conftest import run_main

pytest.importorskip("diffusers")

PROMPT = "a red square moving down over a brown checkered background"
CACHE_DIT = importlib.util.find_spec("cache_dit") is not None


@pytest.fixture(scope="module")
def target(converted):
    """t2v-tiny through its diffusers conversion, as `reproduce.py --via diffusers` runs it (10 steps)."""
    from delta_cache.diffusers.target import DiffusersTarget
    from evaluation.targets import model_parser, target_class

    cls = target_class("wan")
    p = model_parser(cls, "")
    ours = cls(cls.validate(p, p.parse_args(["--sample_steps", "10"])))
    out = DiffusersTarget.of(ours, converted["wan"])
    out.load(torch.device("cpu"), None)
    return out


def _computed(target, name: str, arg: str | None, stats: dict | None = None) -> list[int]:
    """Blocks computed per pass (cond and uncond of each step, in order) by method `name` on `target`; its
    `stats()` into `stats`."""
    from delta_cache.handle import apply_cache
    from evaluation.libraries import LibraryMethod, LibraryRun, calibrate_magcache
    from evaluation.methods import METHODS, ModelContext

    ctx = ModelContext(depths=target.depths, num_steps=target.steps, preset=None, peers=target.peer_constants)
    config = METHODS[name].build(ctx, arg)
    if isinstance(config, LibraryMethod):
        cache = LibraryRun(target, config, functools.cache(lambda: calibrate_magcache(target, PROMPT)))
        depth = None
    else:
        cache = apply_cache(target.model, target.spec, config, target.steps)
        depth = target.depths["blocks"]
    try:
        target.generate(PROMPT, 0, cache=cache)
        records = cache.records
        if stats is not None:
            stats.update(cache.stats())
    finally:
        cache.remove()
    if depth is None:
        return [r.get("blocks", 0) for r in records]
    # ours: a reuse pass computes the blocks a policy leaves uncached (FBCache and DBCache: the first Fn)
    return [depth if r["blocks"] == "refresh" else depth - len(cache.cached.get("blocks", ())) for r in records]


def test_a_library_methods_block_evaluations_are_counted_by_hand(target):
    # diffusers' FBCache at a threshold every step passes: step 0 computes the 8 blocks, every later step
    # only the first (per branch: 8 + 9 x 1)
    stats = {}
    assert _computed(target, "diffusers-fbcache", "threshold=100", stats) == [8, 8] + [1] * 18
    assert (stats["block_evals_computed"], stats["block_evals_total"]) == (34, 160)
    assert stats["theoretical_speedup"] == pytest.approx(160 / 34)
    # diffusers' TaylorSeer computes steps 0 and (step - 2) % 3 == 0 after one warm-up step, forecasts the rest
    # (its attention and FFN modules: no query projection runs)
    per_step = [8 if s == 0 or (s - 2) % 3 == 0 else 0 for s in range(10)]
    got = _computed(target, "diffusers-taylorseer", "cache_interval=3+disable_cache_before_step=1")
    assert got == [n for n in per_step for _ in range(2)]


@pytest.mark.skipif(not CACHE_DIT, reason="cache-dit is not installed (pip install -e '.[peers]')")
def test_cache_dits_dbcache_is_counted_by_hand(target):
    # Fn=1, every step after the 3 warm-up steps cached: 8 blocks on steps 0-2, then block 0 alone
    got = _computed(
        target, "cachedit-dbcache", "Fn=1+Bn=0+threshold=100+max_warmup_steps=3+max_continuous_cached_steps=-1"
    )
    assert got == [8] * 6 + [1] * 14


@pytest.mark.parametrize(
    "ours, library",
    [
        ("fbcache:threshold=0.2", "diffusers-fbcache:threshold=0.2"),
        pytest.param(
            "dbcache:threshold=0.3",
            "cachedit-dbcache:threshold=0.3",
            marks=pytest.mark.skipif(not CACHE_DIT, reason="cache-dit is not installed"),
        ),
    ],
)
def test_our_reimplementation_computes_the_libraries_steps_at_equal_settings(target, ours, library):
    a, b = (_computed(target, *m.split(":")) for m in (ours, library))
    assert a == b and 0 < a.count(8) < len(a)  # the same passes computed, some of them reused


def test_a_missing_library_is_a_skip_reason_and_library_methods_need_the_diffusers_pipeline(
    converted, monkeypatch, tmp_path, capsys
):
    from conftest import REPO, _script_main

    import evaluation.libraries as libraries

    reproduce = _script_main("reproduce_script", REPO / "scripts" / "reproduce.py")
    argv = ["--sample_steps", "4", "--num_prompts", "1", "--out", str(tmp_path / "run"), "--dry_run"]
    code, err = run_main(reproduce, [*argv, "--methods", "full,diffusers-fbcache"], capsys)
    assert code == 2 and "add --via diffusers" in err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "cache_dit" else real(n, *a))
    assert "not installed" in libraries.missing_library("cachedit-dbcache")
    via = ["--via", "diffusers", "--pipeline_dir", str(converted["wan"])]
    code = reproduce([*argv, *via, "--methods", "full,cachedit-dbcache,diffusers-fbcache:threshold=0.1"])
    out = capsys.readouterr().out
    assert code == 0 and "skipped cachedit-dbcache: cache-dit is not installed" in out
    assert "diffusers-fbcache-threshold=0.1" in out and "cachedit-dbcache " not in out

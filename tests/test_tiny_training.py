"""scripts/train_tiny.py: a few-step smoke run end to end, the word tokenizer, and the latent-norm folding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REPO, _script_main


@pytest.fixture(scope="module")
def train_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_tiny", REPO / "scripts" / "train_tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_writes_a_checkpoint_the_ordinary_loaders_read(tmp_path):
    from wan import WanT2V
    from wan.configs import WAN_CONFIGS

    main = _script_main("train_tiny_smoke", REPO / "scripts" / "train_tiny.py")
    out = tmp_path / "ckpt"
    args = ["--smoke", "--out", str(out), "--work", str(tmp_path / "work")]
    assert main([*args, "--first_frame_prob", "0.5", "--foreground_weight", "4"]) == 0
    data = torch.load(tmp_path / "work" / "latents.pt")
    assert data["masks"].shape == (8, 5, 8, 8) and data["masks"].any()  # the object's latent cells, per video
    cfg = WAN_CONFIGS["t2v-tiny"]
    pipe = WanT2V.from_checkpoint(cfg, out)  # strict: every key present, every shape right
    video = pipe.generate(cfg.example_prompt, size=(64, 64), frame_num=5, sampling_steps=2, seed=0, progress=False)
    assert video.shape == (3, 5, 64, 64) and torch.isfinite(video).all()
    assert (out / "train_log.jsonl").read_text().count('"stage": "dit"') == 2


def test_unknown_stage_is_refused(tmp_path, capsys):
    main = _script_main("train_tiny_bad", REPO / "scripts" / "train_tiny.py")
    with pytest.raises(SystemExit) as exc:
        main(["--stages", "vae,nope", "--out", str(tmp_path / "o")])
    assert exc.value.code != 0 and "unknown --stages nope" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("flag", "value", "accepted"),
    [
        ("--frame_noise_prob", "1.5", "accepted 0 to 1"),
        ("--cfg_dropout", "-0.1", "accepted 0 to 1"),
        ("--motion_loss", "-1", "accepted >= 0"),
    ],
)
def test_out_of_range_training_fractions_and_weights_are_refused(tmp_path, capsys, flag, value, accepted):
    main = _script_main("train_tiny_range", REPO / "scripts" / "train_tiny.py")
    with pytest.raises(SystemExit) as exc:
        main([flag, value, "--out", str(tmp_path / "o")])
    assert exc.value.code != 0 and f"{flag} " in (err := capsys.readouterr().err) and accepted in err
    assert not (tmp_path / "o").exists()


def test_foreground_weight_on_data_without_masks_is_refused(tmp_path, capsys):
    main = _script_main("train_tiny_nomask", REPO / "scripts" / "train_tiny.py")
    (tmp_path / "w").mkdir()
    torch.save({"latents": torch.zeros(1, 16, 5, 8, 8), "prompts": ["a"]}, tmp_path / "w" / "latents.pt")
    with pytest.raises(SystemExit) as exc:
        main(["--stages", "dit", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o")])
    assert exc.value.code != 0 and "re-run --stages data" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_word_tokenizer_gives_each_scene_word_its_own_id(tmp_path, train_module):
    from scenes import VOCABULARY
    from wan.modules.tokenizers import HuggingfaceTokenizer

    train_module.build_word_tokenizer(tmp_path / "tok", vocab_size=32)
    tok = HuggingfaceTokenizer(tmp_path / "tok", seq_len=24)
    ids, mask = tok([" ".join(VOCABULARY), "A RED zebra"])
    n = len(VOCABULARY)
    assert ids[0, :n].tolist() == list(range(3, 3 + n)) and ids[0, n] == 1  # words, then </s>
    assert int(mask[0].sum()) == n + 1
    assert ids[1, :4].tolist() == [3, VOCABULARY.index("red") + 3, 2, 1]  # lowercased; unknown word -> <unk>


def test_folding_the_latent_statistics_keeps_reconstructions_and_normalises(train_module):
    from wan.configs import WanVAEConfig
    from wan.modules.vae import LATENT_MEAN, LATENT_STD, build_autoencoder

    torch.manual_seed(0)
    vae = build_autoencoder(WanVAEConfig(base_dim=8, num_res_blocks=1)).eval()
    x = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        mu = vae.encode(x).latent_dist.mode()
        mean, std = mu.transpose(0, 1).flatten(1).mean(1), mu.transpose(0, 1).flatten(1).std(1)
        before = vae.decode(mu).sample
        train_module.fold_latent_normalisation(vae, mean, std)
        mu2 = vae.encode(x).latent_dist.mode()
        after = vae.decode(mu2).sample
    normed = (mu2 - torch.tensor(LATENT_MEAN).view(1, -1, 1, 1, 1)) / torch.tensor(LATENT_STD).view(1, -1, 1, 1, 1)
    flat = normed.transpose(0, 1).flatten(1)
    np.testing.assert_allclose(flat.mean(1).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(flat.std(1).numpy(), 1, atol=1e-4)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)


def test_frame_sigmas_are_per_sample_unless_asked_per_frame(train_module):
    from argparse import Namespace

    def draw(prob: float) -> torch.Tensor:
        args = Namespace(frame_noise_prob=prob, first_frame_prob=0.0, train_shift=3.0)
        return train_module.frame_sigmas(args, 64, 5, torch.Generator().manual_seed(0))

    shared, mixed = draw(0.0), draw(0.5)
    assert shared.shape == mixed.shape == (64, 1, 5, 1, 1)
    assert bool((shared == shared[:, :, :1]).all())  # one level per sample across its frames
    differs = (mixed != mixed[:, :, :1]).flatten(1).any(dim=1)
    assert 16 <= int(differs.sum()) <= 48  # about half of the samples get one level per frame
    assert bool(((mixed > 0) & (mixed < 1)).all())
    # With per-frame levels off, the random stream is the one earlier recipes drew (one uniform per sample).
    u = torch.rand(64, 1, generator=torch.Generator().manual_seed(0)).numpy()
    expected = torch.from_numpy(train_module.shift_sigmas(u, 3.0)).float().view(64, 1, 1, 1, 1).expand(64, 1, 5, 1, 1)
    torch.testing.assert_close(shared, expected)


def test_latent_masks_follow_the_causal_vae_chunks(train_module):
    masks = np.zeros((17, 64, 64), dtype=bool)
    masks[0, 0:3, 0:3] = True  # frame 0 alone -> latent frame 0, cell (0, 0)
    masks[4, 9, 60] = True  # frames 1-4 -> latent frame 1, cell (1, 7)
    masks[13, 63, 20] = True  # frames 13-16 -> latent frame 4, cell (7, 2)
    lm = train_module.latent_masks(masks, (4, 8, 8))
    assert lm.shape == (5, 8, 8) and lm.dtype == torch.bool
    assert {tuple(i) for i in lm.nonzero().tolist()} == {(0, 0, 0), (1, 1, 7), (4, 7, 2)}


def test_first_frame_samples_show_frame_0_and_hide_the_rest(train_module):
    from argparse import Namespace

    args = Namespace(frame_noise_prob=0.0, first_frame_prob=0.5, train_shift=3.0, clean_frame="first")
    s = train_module.frame_sigmas(args, 256, 5, torch.Generator().manual_seed(0)).flatten(1)  # [256, 5]
    first = s[:, 1:].amin(dim=1) > s[:, 0]
    assert 96 <= int(first.sum()) <= 160  # about half
    assert bool((s[first, 0] < 0.45).all()) and bool((s[first, 1:] > 0.95).all())  # sigma after the shift of 3
    rest = s[~first]
    assert bool((rest == rest[:, :1]).all())  # the others keep one level per sample


def test_clean_frame_any_keeps_one_frame_clean_anywhere(train_module):
    from argparse import Namespace

    args = Namespace(frame_noise_prob=0.0, first_frame_prob=1.0, train_shift=3.0, clean_frame="any")
    s = train_module.frame_sigmas(args, 400, 5, torch.Generator().manual_seed(0)).flatten(1)  # [400, 5]
    clean = s < 0.45
    assert bool((clean.sum(dim=1) == 1).all()) and bool((s[~clean] > 0.95).all())  # one clean frame, rest noise
    where = clean.float().argmax(dim=1)
    assert bool((torch.bincount(where, minlength=5) >= 50).all())  # every frame is the clean one at times


def test_the_training_record_keeps_every_run_with_its_flags(tmp_path, train_module):
    import argparse
    import json

    # a record written before `runs` existed: its top-level flags were one earlier run's
    old = {"stages": {"vae": {"seconds": 3.0}}, "machine": "m0", "args": {"stages": "vae", "seed": "0"}}
    (tmp_path / "training.json").write_text(json.dumps(old))
    for seed in (3, 4):
        log = train_module.Log(tmp_path, argparse.Namespace(stages="dit", seed=seed))
        log.stage_done("dit_resume", 10.0 + seed, steps=5)
    record = json.loads((tmp_path / "training.json").read_text())
    assert [(r["stage"], r["args"]["seed"]) for r in record["runs"]] == [
        ("vae", "0"),
        ("dit_resume", "3"),
        ("dit_resume", "4"),
    ]
    assert record["runs"][0]["machine"] == "m0" and "args" not in record
    assert record["runs"][1]["seconds"] == 13.0 and record["stages"]["dit_resume"] == {"seconds": 14.0, "steps": 5}


def test_twins_fill_the_second_half_with_the_same_noise(train_module):
    from argparse import Namespace

    args = Namespace(
        dit_batch=8, cfg_dropout=0.0, frame_noise_prob=0.5, first_frame_prob=0.3, clean_frame="first", train_shift=3.0
    )
    latents = torch.randn(6, 4, 5, 2, 2)
    prompt_idx = torch.tensor([0, 1, 2, 3, 4, 5])
    twins = torch.tensor([3, 4, -1, 0, 1, -1])  # 0<->3, 1<->4; 2 and 5 have none

    def batch(prob, with_twins=True):
        args.twin_prob = prob
        return train_module.noised_batch(
            args, latents, prompt_idx, 9, torch.Generator().manual_seed(1), "cpu", twins if with_twins else None
        )

    plain, paired = batch(0.0), batch(1.0)
    torch.testing.assert_close(plain.xt, batch(0.0, with_twins=False).xt)  # off: the batches of before
    first, second = paired.pick[:4], paired.pick[4:]
    has = twins[first] >= 0
    assert bool(has.any()) and bool((second[has] == twins[first[has]]).all())
    assert bool((paired.prompts[4:][has] == prompt_idx[second[has]]).all())  # the twin's own (opposite) word
    torch.testing.assert_close(paired.noise[4:][has], paired.noise[:4][has])
    torch.testing.assert_close(paired.s[4:][has], paired.s[:4][has])
    torch.testing.assert_close(paired.x0, latents[paired.pick])
    assert bool((paired.pick[:4] == plain.pick[:4]).all())  # the first half is drawn as before


def test_blended_twins_hide_the_sense_and_land_on_their_own_clip(train_module):
    from argparse import Namespace

    args = Namespace(
        dit_batch=32,
        cfg_dropout=0.0,
        frame_noise_prob=0.3,
        first_frame_prob=0.3,
        clean_frame="first",
        train_shift=3.0,
        twin_prob=1.0,
    )
    latents = torch.randn(6, 4, 5, 2, 2)
    prompt_idx = torch.arange(6)
    twins = torch.tensor([3, 4, -1, 0, 1, -1])

    def batch(blend=None):
        if blend is not None:
            args.twin_blend = blend
        return train_module.noised_batch(args, latents, prompt_idx, 9, torch.Generator().manual_seed(2), "cpu", twins)

    before = batch()  # no --twin_blend (the Wan script has none): the batches of before
    plain, blended = batch(0.0), batch(1.0)
    torch.testing.assert_close(plain.xt, before.xt)
    torch.testing.assert_close(plain.noise, before.noise)
    torch.testing.assert_close(plain.xt, (1 - plain.s) * plain.x0 + plain.s * plain.noise)
    half = args.dit_batch // 2
    a = torch.arange(half)
    b = a + half
    paired = twins[blended.pick[a]] == blended.pick[b]
    noisy = blended.s[a].flatten(1).amin(dim=1) >= train_module.BLEND_MIN_SIGMA
    mixed, kept = paired & noisy, paired & ~noisy
    assert bool(mixed.any()) and bool(kept.any())
    torch.testing.assert_close(blended.x0, latents[blended.pick])  # the targets stay each one's own clip
    # the flow target lands on that clip: x0 = xt - s (noise - x0) as the sampler reads a velocity
    torch.testing.assert_close(blended.xt - blended.s * (blended.noise - blended.x0), blended.x0)
    # a blended pair's inputs differ by at most half of what the clips differ by: (1 - s)(1 - 2 lam) with lam
    # in [0.25, 0.5]; the plain pair's by all of it
    gap = (blended.xt[a] - blended.xt[b]).flatten(1).norm(dim=1)
    full = ((1 - blended.s[a]) * (blended.x0[a] - blended.x0[b])).flatten(1).norm(dim=1)
    assert bool((gap[mixed] <= 0.5 * full[mixed] + 1e-5).all())
    torch.testing.assert_close(gap[kept], full[kept])  # a clean-ish frame: no blend, the same noise as before
    torch.testing.assert_close(blended.noise[a][kept], blended.noise[b][kept])
    torch.testing.assert_close(blended.xt[~mixed.repeat(2)], plain.xt[~mixed.repeat(2)])

"""scripts/train_tiny_hyvideo.py: a smoke run of every stage writes the official layout that the ordinary
HunyuanVideo loaders read, with word-level tokenizers over the scene vocabulary; the VAE's object crops; a
DiT of a coarser patch resized to start the tiny model's (`--dit_init`)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO, _script_main


def test_smoke_run_writes_encoders_and_a_vae_the_loaders_read(tmp_path, capsys):
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG
    from hyvideo.text_encoder import TextEncoder
    from hyvideo.vae import load_vae
    from scenes import OPPOSITE, VOCABULARY, held_out_combos

    main = _script_main("train_tiny_hyvideo_smoke", REPO / "scripts" / "train_tiny_hyvideo.py")
    out = tmp_path / "ckpts"
    twins = ["--twins", "--twin_prob", "1", "--twin_blend", "1"]
    assert main(["--smoke", "--out", str(out), "--work", str(tmp_path / "work"), *twins]) == 0
    cfg = HUNYUAN_VIDEO_CONFIG["HYVideo-tiny"]
    assert (cfg.mm_double_blocks_depth, cfg.mm_single_blocks_depth) == (20, 40)  # the release's depth

    vae = load_vae(out / cfg.vae_dir, dtype=torch.float32, tiling=False)  # strict keys and shapes
    scaling = json.loads((out / cfg.vae_dir / "config.json").read_text())["scaling_factor"]
    assert vae.config.scaling_factor == scaling and scaling != 0.476986  # set from the measured latent std
    with torch.no_grad():
        latent = vae.encode(torch.zeros(1, 3, 17, 64, 64)).latent_dist.mode()
    assert latent.shape == (1, 16, 5, 8, 8)

    llm = TextEncoder(
        "llm",
        cfg.text_len,
        out / cfg.text_encoder_dir,
        dtype=torch.float32,
        prompt_template="dit-llm-encode",
        prompt_template_video="dit-llm-encode-video",
        hidden_state_skip_layer=cfg.hidden_state_skip_layer,
        count_crop_start=True,
    )
    ids = llm.tokenizer(" ".join(VOCABULARY))["input_ids"]
    assert len(set(ids[1:])) == len(VOCABULARY) and llm.tokenizer.unk_token_id not in ids  # a word, an id
    assert llm.crop_start("video") > 20  # the template's prefix is tokenized, and cropped off
    prompt = llm.encode([cfg.example_prompt])
    assert prompt.hidden_state.shape == (1, cfg.text_len, cfg.text_states_dim)
    clip = TextEncoder("clipL", cfg.text_len_2, out / cfg.text_encoder_2_dir, dtype=torch.float32)
    assert clip.encode([cfg.example_prompt]).hidden_state.shape == (1, cfg.text_states_dim_2)
    stages = json.loads((out / "training_hyvideo.json").read_text())["stages"]
    assert set(stages) == {"tokenizer", "vae", "vae_long", "vae_full", "vae_objects", "data", "dit"}
    assert 0 < stages["vae_objects"]["object_l1"] < 2  # the error on the objects' pixels, logged
    data = torch.load(tmp_path / "work" / "latents.pt")
    n = len(data["prompts"])  # 8 videos and their backwards twins where the reversed scene is a training one
    assert 8 < n <= 16 and data["latents"].shape == (n, 16, 5, 8, 8)
    assert data["masks"].shape == (n, 5, 8, 8) and data["masks"].any()  # the object's latent cells
    twins, held_out = data["twins"], {c.prompt for c in held_out_combos()}
    assert bool((twins[:8] >= 8).any()) and bool((twins[8:] < 8).all())
    for i, j in enumerate(twins.tolist()):
        if j >= 0:
            assert twins[j] == i and data["prompts"][j] not in held_out
            assert data["prompts"][j].split()[4] == OPPOSITE[data["prompts"][i].split()[4]]
            # a twin's first frame is the original's last: its object cells lie in the original's last latent frame
            assert not (data["masks"][j, 0] & ~data["masks"][i, -1]).any()

    # the whole checkpoint runs through sample_video.py's ordinary loaders (strict DiT keys), real CFG on
    sample = _script_main("hy_sample_video_tiny", REPO / "HunyuanVideo" / "sample_video.py")
    argv = ["--model", "HYVideo-tiny", "--model-base", str(out), "--infer-steps", "2", "--cfg-scale", "4"]
    assert sample([*argv, "--seed", "1", "--save-path", str(tmp_path / "videos")]) == 0
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 1

    # the direction probe reads what the stages wrote; the opposite word is another text, so another loss
    probe = _script_main("probe_direction_smoke", REPO / "scripts" / "probe_direction.py")
    capsys.readouterr()
    assert probe(["--model-base", str(out), "--num", "2"]) == 0
    rows = {line[:14].strip(): line[14:].split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"first", "uniform 0.97", "uniform 0.9", "uniform 0.8", "uniform 0.6"}
    assert all(len(r) == 3 for r in rows.values()) and rows["first"][0] != rows["first"][1]

    # --dit_init: the DiT stage starts from a checkpoint of upstream's patch (1, 2, 2)
    coarse = tmp_path / "coarse.pt"
    torch.save({"module": coarse_dit(cfg).state_dict()}, coarse)
    assert (
        main(
            [
                "--smoke",
                "--stages",
                "dit",
                "--dit_init",
                str(coarse),
                "--out",
                str(out),
                "--work",
                str(tmp_path / "work"),
            ]
        )
        == 0
    )
    record = json.loads((out / "training_hyvideo.json").read_text())
    assert "dit_init" in record["stages"]
    every = "tokenizer,vae,vae_long,vae_full,vae_objects,data,dit"
    runs = [(r["stage"], r["args"]["stages"], r["args"]["dit_init"]) for r in record["runs"]]
    assert runs[-2:] == [("dit", every, "None"), ("dit_init", "dit", str(coarse))]  # each run with its own flags


def coarse_dit(cfg):
    from dataclasses import replace

    from hyvideo.modules.models import HYVideoDiffusionTransformer

    torch.manual_seed(0)
    return HYVideoDiffusionTransformer(**replace(cfg, patch_size=(1, 2, 2)).model_kwargs())


def test_a_coarser_patch_resized_embeds_and_predicts_as_before():
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG
    from hyvideo.modules.models import HYVideoDiffusionTransformer

    resize_patch = script_module("train_tiny_hyvideo_resize", "train_tiny_hyvideo.py").resize_patch
    cfg = HUNYUAN_VIDEO_CONFIG["HYVideo-tiny"]
    assert cfg.patch_size == (1, 1, 1)
    coarse = coarse_dit(cfg)
    fine = HYVideoDiffusionTransformer(**cfg.model_kwargs())
    fine.load_state_dict(resize_patch(coarse.state_dict(), cfg.patch_size))  # strict: every key, every shape
    with torch.no_grad():
        # a latent of one value per old 2x2 patch embeds as the old model embedded it
        x = torch.randn(2, 16, 3, 4, 4)
        torch.testing.assert_close(fine.img_in(x), coarse.img_in(x.repeat_interleave(2, 3).repeat_interleave(2, 4)))
        # each new token predicts the mean of the four cells its old token predicted
        h, vec = torch.randn(2, 10, cfg.hidden_size), torch.randn(2, cfg.hidden_size)
        old = coarse.final_layer(h, vec).unflatten(-1, (16, 4)).mean(dim=-1)
        torch.testing.assert_close(fine.final_layer(h, vec), old)
        torch.testing.assert_close(fine.single_blocks[7].linear1.weight, coarse.single_blocks[7].linear1.weight)
    with pytest.raises(ValueError, match="must divide the old one"):
        resize_patch(coarse.state_dict(), (1, 3, 3))


def script_module(name: str, script: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unknown_stage_is_refused_before_anything_is_written(tmp_path, capsys):
    main = _script_main("train_tiny_hyvideo_bad", REPO / "scripts" / "train_tiny_hyvideo.py")
    with pytest.raises(SystemExit) as exc:
        main(["--stages", "vae,nope", "--out", str(tmp_path / "o")])
    assert exc.value.code != 0 and "--stages: unknown nope" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as exc:
        main(["--stages", "dit", "--dit_init", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o")])
    assert exc.value.code != 0 and "--dit_init: no file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stages", "dit"], "stage dit needs"),  # no encoded data in --work
        (["--stages", "data,dit", "--dit_resume"], "--dit_resume needs a trained DiT"),
        (["--stages", "data,dit", "--twin_prob", "0.5"], "--twin_prob needs the backwards twins"),
        (["--stages", "data,dit", "--twins", "--twin_blend", "0.5"], "--twin_blend mixes backwards twins"),
        (["--twin_blend", "2"], "--twin_blend is a fraction of samples: accepted 0 to 1"),
        (["--first_frame_prob", "1.5"], "--first_frame_prob is a fraction of samples: accepted 0 to 1"),
        (["--foreground_weight", "-1"], "--foreground_weight is a loss weight: accepted >= 0"),
    ],
)
def test_a_dit_stage_it_cannot_run_is_refused_before_anything_is_written(tmp_path, capsys, argv, message):
    main = _script_main("train_tiny_hyvideo_dit_bad", REPO / "scripts" / "train_tiny_hyvideo.py")
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "o"), "--work", str(tmp_path / "w")])
    assert exc.value.code != 0 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_object_crops_hold_the_object_random_crops_mostly_miss():
    import numpy as np

    from scenes import training_combos

    vae_batch, pool = script_module("train_tiny_crops", "train_tiny.py").vae_batch, training_combos()
    _, random_fg = vae_batch(np.random.default_rng(0), pool, 16, 9, 32, 17, foreground=True)
    x, object_fg = vae_batch(np.random.default_rng(0), pool, 16, 9, 32, 17, foreground=True, around_object=True)
    assert x.shape == (16, 3, 9, 32, 32) and object_fg.shape == (16, 1, 9, 32, 32)
    middle = object_fg[:, 0, 4].flatten(1).any(dim=1)
    assert middle.all()  # the object is in every crop at the clip's middle frame
    assert object_fg.mean() > 2 * random_fg.mean()


def test_the_direction_probe_refuses_a_folder_that_is_no_tiny_checkpoint(tmp_path, capsys):
    # its flipped prompt is Scene.reversed's, tested in test_scenes.py (only the direction word changes)
    main = _script_main("probe_direction_bad", REPO / "scripts" / "probe_direction.py")
    with pytest.raises(SystemExit) as exc:
        main(["--model-base", str(tmp_path)])
    assert (
        exc.value.code != 0 and "is not a checkpoint folder of the tiny hunyuanvideo model" in capsys.readouterr().err
    )

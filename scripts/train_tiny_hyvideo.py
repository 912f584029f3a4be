"""Train the tiny HunyuanVideo model (`HYVideo-tiny`) on synthetic scenes, in the official `ckpts/` layout.

    python scripts/train_tiny_hyvideo.py                          # every stage (about 2 h on a 2-core CPU)
    python scripts/train_tiny_hyvideo.py --stages dit --dit_resume --dit_steps 2000 --seed 9   # train on
    python scripts/train_tiny_hyvideo.py --smoke --out /tmp/t                          # a few steps of each (CI)

Stages (the result in HunyuanVideo/ckpts-tiny is sample_video.py's default model):
1. tokenizer: word-level tokenizers over the scene vocabulary for both text encoders, in the upstream kinds'
   conventions (Llama-3's header and end tokens for the LLM, CLIP's start/end tokens), and both encoders at
   random init (a 3-layer Llama: the skip layer 2 reads a real layer's output; a 2-layer CLIP text model for the
   pooled vector); they are trained with the DiT later, as the tiny Wan model's umT5 was.
2. vae, vae_long, vae_full, vae_objects: a small 884-16c VAE (diffusers' `AutoencoderKLHunyuanVideo`) with the
   recipe the tiny Wan VAE needed (scripts/train_tiny.py): 5-frame 32x32 crops from scratch with L1 + MSE, latent
   noise, a small L2 pull on the latent and three latent channels anchored to the pooled colour of their cell,
   then 9-frame clips and full 17-frame 64x64 clips, so that every causal chunk is trained, the last at the size
   the sampler decodes; then vae_objects, which made it keep the moving object (crops centred on it alternating
   with whole frames, object pixels weighted; docs/tiny_hyvideo.md). HunyuanVideo scales latents by one
   `scaling_factor` (no per-channel mean), so the measured latent std sets it in the VAE's config.json.
3. data: training-split scenes rendered and encoded once through the saved VAE (`hyvideo.vae.load_vae`, latents
   times its scaling factor, as the sampler decodes them), with the latent cells each object touches; with
   `--twins` also each clip played backwards under the opposite direction word (where that combination is a
   training one), for `--twin_prob`.
4. dit: the DiT and both text encoders trained together with the tiny Wan model's rectified-flow recipe
   (x_s = (1 - s) x0 + s e, target e - x0 at timestep 1000 s, as the reversed flow sampler integrates; shifted
   training sigmas, per-frame noise levels, first-frame samples, the foreground weight and the motion loss);
   the unconditional prompt is upstream's negative prompt (all `<unk>` here), which sample_video.py uses with
   real CFG. Writes the DiT where `--model-base` expects it, under "module" as the released file.
   `--twin_prob` pairs samples with their backwards twins under the same noise: when the noise hides which
   way the frames run, only the word tells the two targets apart, which is the case every sampling run starts
   in (a model trained without it used the word only when a clean frame showed where the object was:
   scripts/probe_direction.py, docs/tiny_hyvideo.md). `--twin_blend` goes further where every frame is noisy:
   both inputs of such a pair mix the two clips, so that the frames show both ways and the word alone decides
   (the twins alone left a model that took the sense from the first faint object, as noise drew it).
   `--dit_init FILE` starts it from a DiT of a coarser patch instead of from init (the shipped model: from the
   4000-step run at upstream's patch (1, 2, 2), which had learnt colours and backgrounds but not directions).

Logs: <out>/train_log_hyvideo.jsonl (losses), <out>/training_hyvideo.json (wall time per stage).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
for sub in ("HunyuanVideo", "Wan2.1", "", "scripts"):
    sys.path.insert(0, str(REPO / sub))

from train_tiny import (  # noqa: E402
    VAE_STAGES,
    Log,
    check_recipe,
    cosine_lr,
    flow_loss,
    latent_masks,
    noised_batch,
    vae_batch,
    vae_step,
)

from hyvideo.configs import HUNYUAN_VIDEO_CONFIG  # noqa: E402
from hyvideo.vae import VAE_CONFIG, VAE_WEIGHTS, strip_vae_state_dict, upstream_vae_config, vae_kwargs  # noqa: E402
from scenes import VOCABULARY, training_combos  # noqa: E402

MODEL = "HYVideo-tiny"
# vae_objects (this model's): the object-weighted stage that made the VAE keep the moving object
HY_VAE_STAGES = {**VAE_STAGES, "vae_objects": (9, "vae_objects_steps")}
STAGES = ("tokenizer", *HY_VAE_STAGES, "data", "dit")
TINY_VAE = dict(block_out_channels=(8, 16, 32, 32), layers_per_block=1, norm_num_groups=4, latent_channels=16)
DEFAULT_OUT = REPO / "HunyuanVideo" / "ckpts-tiny"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the tiny HunyuanVideo model (HYVideo-tiny) on synthetic scenes.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the ckpts/ folder to write (official layout)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vae_steps", type=int, default=3000)
    p.add_argument("--vae_batch", type=int, default=4)
    p.add_argument("--vae_lr", type=float, default=1e-3)
    p.add_argument(
        "--vae_anchor", type=float, default=1.0, help="weight of the colour anchor in the first half of stage vae"
    )
    p.add_argument(
        "--vae_foreground_weight", type=float, default=4.0, help="extra weight of object pixels in vae_objects"
    )
    p.add_argument("--vae_long_steps", type=int, default=1000)
    p.add_argument("--vae_full_steps", type=int, default=500)
    p.add_argument("--vae_objects_steps", type=int, default=2400)
    p.add_argument("--num_videos", type=int, default=4096, help="training videos encoded for the DiT")
    p.add_argument(
        "--twins",
        action="store_true",
        help="data: also encode each video played backwards under the opposite direction word (training combos only)",
    )
    p.add_argument("--work", type=Path, default=REPO / "outputs" / "train_tiny_hyvideo", help="encoded training data")
    p.add_argument("--dit_steps", type=int, default=4000)
    p.add_argument("--dit_batch", type=int, default=16)
    p.add_argument("--dit_lr", type=float, default=5e-4)
    p.add_argument("--dit_resume", action="store_true", help="continue from the DiT and text encoders in --out")
    p.add_argument(
        "--dit_init",
        type=Path,
        default=None,
        help="start the DiT from this checkpoint of another patch size (its patch embedding and output layer resized)",
    )
    p.add_argument("--dit_save_every", type=int, default=500, help="also save every N steps (0: at the end only)")
    # the tiny Wan model's recipe (scripts/train_tiny.py says what each does)
    p.add_argument("--train_shift", type=float, default=3.0)
    p.add_argument("--cfg_dropout", type=float, default=0.1, help="fraction of negative (unconditional) prompts")
    p.add_argument("--frame_noise_prob", type=float, default=0.5)
    p.add_argument("--first_frame_prob", type=float, default=0.3)
    p.add_argument("--clean_frame", choices=("first", "any"), default="first")
    p.add_argument(
        "--twin_prob",
        type=float,
        default=0.0,
        help="share of a batch's first half whose backwards twin fills the second half, same noise (--twins data)",
    )
    p.add_argument(
        "--twin_blend",
        type=float,
        default=0.0,
        help="share of those pairs, all frames noisy, whose inputs mix both clips: only the word tells them apart",
    )
    p.add_argument("--foreground_weight", type=float, default=8.0)
    p.add_argument("--motion_loss", type=float, default=1.0)
    p.add_argument(
        "--compile", action="store_true", help="compile each DiT block (torch.compile; about 25%% faster CPU steps)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default=None, help="cuda if available, else cpu")
    p.add_argument("--smoke", action="store_true", help="a few steps of every stage (for CI)")
    return p


def hy_log(out: Path, args: argparse.Namespace) -> Log:
    """The tiny Wan model's log, under names of its own (both models may share a work folder)."""
    return Log(out, args, losses="train_log_hyvideo.jsonl", record="training_hyvideo.json")


# ---------------------------------------------------------------------------------------------------
# 1. tokenizers and text encoders


def write_text_encoders(out: Path, seed: int) -> None:
    """The debug model's tiny Llama (3 layers: skip layer 2 reads a real layer) and CLIP, on scene words."""
    from hyvideo.debug import write_text_encoders as write

    write(out, HUNYUAN_VIDEO_CONFIG[MODEL], seed, words=tuple(VOCABULARY))


# ---------------------------------------------------------------------------------------------------
# 2. VAE


def save_vae(out: Path, vae, scaling_factor: float) -> None:
    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    folder = out / cfg.vae_dir
    folder.mkdir(parents=True, exist_ok=True)
    kw = vae_kwargs({**TINY_VAE, "scaling_factor": scaling_factor})
    (folder / VAE_CONFIG).write_text(json.dumps(upstream_vae_config(kw), indent=2) + "\n")
    torch.save({k: v.contiguous() for k, v in vae.state_dict().items()}, folder / VAE_WEIGHTS)


def train_vae(args, log: Log, device: torch.device, stage: str) -> None:
    from diffusers import AutoencoderKLHunyuanVideo

    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    index = list(HY_VAE_STAGES).index(stage)
    long = index > 0
    torch.manual_seed(args.seed + index)
    rng = np.random.default_rng(args.seed + 10 * index)
    pool = training_combos()
    vae = AutoencoderKLHunyuanVideo(**vae_kwargs(TINY_VAE))
    if long:
        sd = strip_vae_state_dict(torch.load(args.out / cfg.vae_dir / VAE_WEIGHTS, map_location="cpu"))
        vae.load_state_dict(sd, strict=True)
    vae = vae.to(device).train()
    peak = args.vae_lr / 2 if stage in ("vae_long", "vae_full") else args.vae_lr
    opt = torch.optim.Adam(vae.parameters(), lr=peak)
    frames, steps_arg = HY_VAE_STAGES[stage]
    steps = getattr(args, steps_arg)
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=stage)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, peak, warmup=max(1, steps // 20))
        # 32x32 crops while the causal chunks are learnt; whole 64x64 frames for the full clips, the size the
        # sampler decodes (the mid-block attention sees 8x8 latents there, not 4x4). vae_objects alternates
        # crops centred on the object (a few percent of a frame's pixels: a VAE trained on whole frames alone
        # learnt the background and dropped it) with whole frames (GroupNorm's statistics are the frame's).
        objects = stage == "vae_objects" and step % 2 == 0
        crop = 32 if stage in ("vae", "vae_long") or objects else 64
        x, fg = vae_batch(
            rng, pool, args.vae_batch, frames, crop, cfg.video_length, foreground=True, around_object=objects
        )
        x, fg = x.to(device), fg.to(device)
        fg_weight = args.vae_foreground_weight if stage == "vae_objects" else 0.0
        loss, rec, anchor = vae_step(vae, opt, x, step, steps, long, args.vae_anchor, fg, fg_weight)
        bar.update()
        bar.set_postfix(rec=f"{rec.item():.4f}", anchor=f"{anchor.item():.3f}")
        log.loss(stage, step, loss=loss.item(), rec=rec.item(), anchor=anchor.item())
    bar.close()

    vae.eval()
    with torch.no_grad():
        batches = [
            vae_batch(rng, pool, 4, cfg.video_length, 64, cfg.video_length, foreground=True)
            for _ in range(2 if args.smoke else 16)
        ]
        mus = torch.cat([vae.encode(v.to(device)).latent_dist.mode() for v, _ in batches])
        std = float(mus.std().clamp_min(1e-3))
        x, fg = (t.to(device) for t in batches[0])
        err = (vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1) - x).abs()
        l1 = float(err.mean())
        # Full-clip L1 hid a VAE that drew the background alone (the object is a few percent of the pixels):
        # the error on the objects' pixels says whether they survive.
        object_l1 = float((err * fg).sum() / (3 * fg.sum()).clamp_min(1))
    save_vae(args.out, vae.cpu(), scaling_factor=1.0 / std)
    logger.info(
        f"{stage}: full-clip L1 {l1:.4f}, on the objects {object_l1:.4f} (in [-1, 1] units), "
        f"latent std {std:.3f} -> scaling {1 / std:.4f}"
    )
    log.stage_done(
        stage,
        time.perf_counter() - t0,
        steps=steps,
        full_clip_l1=round(l1, 5),
        object_l1=round(object_l1, 5),
        latent_std=round(std, 5),
    )


# ---------------------------------------------------------------------------------------------------
# 3. data


def encode_dataset(args, log: Log, device: torch.device) -> None:
    from hyvideo.vae import load_vae
    from scenes import render_scene
    from scenes.metrics import to_video

    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    t0 = time.perf_counter()
    vae = load_vae(args.out / cfg.vae_dir, dtype=torch.float32, device=device, tiling=False)
    rng = np.random.default_rng(args.seed + 1)
    pool = training_combos()
    allowed = {c.combo() for c in pool}
    # (scene, seed, index of the clip this one plays backwards or -1); rendered again when encoded
    clips = [(pool[int(rng.integers(len(pool)))], int(rng.integers(2**31)), -1) for _ in range(args.num_videos)]
    if args.twins:
        # The same clip played backwards is a scene of the opposite direction (Scene.reversed), kept where that
        # combination is a training one (never a held-out one).
        clips += [
            (scene, seed, i) for i, (scene, seed, _) in enumerate(list(clips)) if scene.reversed().combo() in allowed
        ]
    latents, masks, prompts = [], [], []
    for start in tqdm(range(0, len(clips), 8), desc="encode"):
        videos = []
        for scene, seed, original in clips[start : start + 8]:
            r = render_scene(scene, cfg.video_length, 64, 64, seed)
            video, fg = (r.video, r.foreground) if original < 0 else (r.video[::-1], r.foreground[::-1])
            videos.append(to_video(np.ascontiguousarray(video)))
            masks.append(latent_masks(np.ascontiguousarray(fg), cfg.vae_stride))
            prompts.append(scene.prompt if original < 0 else scene.reversed().prompt)
        with torch.inference_mode():
            z = vae.encode(torch.stack(videos).to(device)).latent_dist.mode()
            latents.append((z * vae.config.scaling_factor).float().cpu())
    z = torch.cat(latents)
    twins = torch.full((len(clips),), -1, dtype=torch.long)
    for j, (_, _, original) in enumerate(clips):
        if original >= 0:
            twins[j], twins[original] = original, j
    args.work.mkdir(parents=True, exist_ok=True)
    data = {
        "latents": z.to(torch.float16),
        "prompts": prompts,
        "masks": torch.stack(masks),
        "twins": twins,  # per video, its backwards twin's index, or -1
    }
    torch.save(data, args.work / "latents.pt")
    pairs = int((twins >= 0).sum()) // 2
    logger.info(f"encoded {len(z)} videos ({pairs} backwards twins): latent mean {z.mean():.3f}, std {z.std():.3f}")
    log.stage_done("data", time.perf_counter() - t0, videos=len(z), twins=pairs, latent_std=round(float(z.std()), 4))


# ---------------------------------------------------------------------------------------------------
# 4. DiT and text encoders


def text_encoders(out: Path, device: torch.device):
    """Both encoders through the sampler's own `TextEncoder` (template, crop, skip layer), made trainable."""
    from hyvideo.text_encoder import TextEncoder

    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    llm = TextEncoder(
        "llm",
        cfg.text_len,
        out / cfg.text_encoder_dir,
        dtype=torch.float32,
        device=device,
        prompt_template="dit-llm-encode",
        prompt_template_video="dit-llm-encode-video",
        hidden_state_skip_layer=cfg.hidden_state_skip_layer,
        count_crop_start=cfg.count_crop_start,
    )
    clip = TextEncoder("clipL", cfg.text_len_2, out / cfg.text_encoder_2_dir, dtype=torch.float32, device=device)
    for enc in (llm, clip):
        enc.model.requires_grad_(True)  # eval mode stays: no dropout
    return llm, clip


def train_dit(args, log: Log, device: torch.device) -> None:
    from hyvideo.configs import NEGATIVE_PROMPT
    from hyvideo.modules.models import HYVideoDiffusionTransformer, load_hyvideo_model
    from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid

    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    t0 = time.perf_counter()
    name = "dit_resume" if args.dit_resume else "dit_init" if args.dit_init else "dit"
    data = torch.load(args.work / "latents.pt")
    latents, prompts = data["latents"].float(), data["prompts"]
    masks = data["masks"][:, None].float() if args.foreground_weight else None  # [N, 1, F, H, W]
    twins = data.get("twins")
    llm, clip = text_encoders(args.out, device)
    unique = sorted(set(prompts) | {NEGATIVE_PROMPT})
    ids, mask, crop = llm.tokenize(unique)
    ids2, mask2, crop2 = clip.tokenize(unique)
    index = {p: i for i, p in enumerate(unique)}
    prompt_idx = torch.tensor([index[p] for p in prompts])
    negative = index[NEGATIVE_PROMPT]

    torch.manual_seed(args.seed + args.dit_resume)
    dit = HYVideoDiffusionTransformer(**cfg.model_kwargs())
    if args.dit_resume:
        dit.load_state_dict(load_hyvideo_model(cfg.model_kwargs(), str(args.out / cfg.dit_weight)).state_dict())
    elif args.dit_init:
        dit.load_state_dict(resize_patch(torch.load(args.dit_init, map_location="cpu")["module"], cfg.patch_size))
    dit = dit.to(device).train()
    if args.compile:
        # Regional: the 60 blocks share two graphs (double, single), compiled in seconds; the whole model
        # compiled took 5 min and was no faster on the 2-core CPU (2.1 s -> 1.6 s a DiT step both ways).
        for block in (*dit.double_blocks, *dit.single_blocks):
            block.compile()
    params = [*dit.parameters(), *llm.model.parameters(), *clip.model.parameters()]
    opt = torch.optim.AdamW(params, lr=args.dit_lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed + args.dit_resume)
    grid = rope_grid(tuple(latents.shape[2:]), cfg.patch_size)
    freqs = tuple(f.to(device) for f in get_nd_rotary_pos_embed(cfg.rope_dim_list, grid, cfg.rope_theta))
    bar = tqdm(range(args.dit_steps), desc=name)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, args.dit_steps, args.dit_lr, warmup=max(1, args.dit_steps // 20))
        b = noised_batch(args, latents, prompt_idx, negative, gen, device, twins)
        text = llm.states(ids[b.prompts], mask[b.prompts], crop)
        pooled = clip.states(ids2[b.prompts], mask2[b.prompts], crop2).hidden_state
        pred = dit(b.xt, b.sigma * 1000, text.hidden_state, text.attention_mask, pooled, *freqs)["x"]
        fg = None if masks is None else masks[b.pick].to(device)
        loss = flow_loss(args, pred, b.x0, b.noise, b.xt, b.s, fg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        log.loss(name, step, loss=loss.item(), lr=opt.param_groups[0]["lr"])
        if args.dit_save_every and (step + 1) % args.dit_save_every == 0 and step + 1 < args.dit_steps:
            save_dit(args.out, dit, llm, clip)  # a long CPU run keeps what it has learnt if stopped
    save_dit(args.out, dit, llm, clip)
    log.stage_done(name, time.perf_counter() - t0, steps=args.dit_steps, final_loss=round(loss.item(), 5))


def resize_patch(sd: dict[str, torch.Tensor], patch: tuple[int, int, int]) -> dict[str, torch.Tensor]:
    """A DiT state dict of a coarser patch made to load at `patch` (a divisor of the old patch, per axis).

    The patch embedding's kernel is summed over each new patch's share of the old one (a region filled with
    one value embeds as before) and the output layer's features are averaged over the same share (each new
    token predicts the mean of the cells its old token covered); every other weight is patch-free and kept.
    """
    embed = sd["img_in.proj.weight"]  # [D, C, pt, ph, pw]
    old = tuple(embed.shape[2:])
    if any(o % n for o, n in zip(old, patch, strict=True)):
        raise ValueError(f"cannot resize patch {old} to {tuple(patch)}: the new patch must divide the old one")
    split = [x for o, n in zip(old, patch, strict=True) for x in (n, o // n)]  # each old axis as (new patch, share)
    sd = dict(sd)
    sd["img_in.proj.weight"] = embed.reshape(*embed.shape[:2], *split).sum(dim=(3, 5, 7))
    channels = sd["final_layer.linear.bias"].shape[0] // (old[0] * old[1] * old[2])
    for key in ("final_layer.linear.weight", "final_layer.linear.bias"):
        t = sd[key]  # [C*pt*ph*pw, ...]: feature index channel first, as unpatchify reads it
        rest = t.shape[1:]
        sd[key] = t.reshape(channels, *split, *rest).mean(dim=(2, 4, 6)).reshape(-1, *rest)
    return sd


def save_dit(out: Path, dit, llm, clip) -> None:
    """The DiT under "module" where --model-base expects it (written whole, then renamed), and both encoders."""
    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    dit_path = out / cfg.dit_weight
    dit_path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in dit.state_dict().items()}
    tmp = dit_path.with_name(dit_path.name + ".partial")
    torch.save({"module": sd}, tmp)
    tmp.replace(dit_path)
    llm.model.save_pretrained(str(out / cfg.text_encoder_dir))
    clip.model.save_pretrained(str(out / cfg.text_encoder_2_dir))


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        p.error(f"--stages: unknown {', '.join(unknown)}; accepted: {', '.join(STAGES)}")
    check_recipe(p, args)
    if args.dit_init is not None:
        if args.dit_resume:
            p.error("--dit_init starts a new DiT from another checkpoint; --dit_resume continues --out's: give one")
        if not args.dit_init.is_file():
            p.error(f"--dit_init: no file {args.dit_init} (a DiT .pt with the weights under 'module')")
    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    if "dit" in stages:
        if args.dit_resume and not (args.out / cfg.dit_weight).is_file():
            p.error(f"--dit_resume needs a trained DiT in {args.out / cfg.dit_weight}")
        data_file = args.work / "latents.pt"
        if "data" not in stages and not data_file.is_file():
            p.error(f"stage dit needs {data_file}: run --stages data first")
        if args.twin_prob and "data" not in stages and "twins" not in torch.load(data_file, mmap=True):
            p.error(f"--twin_prob needs the backwards twins that {data_file} lacks: run --stages data --twins")
        if args.twin_blend and not args.twin_prob:
            p.error("--twin_blend mixes backwards twins into each other: it needs --twin_prob > 0")
        if args.twin_prob and "data" in stages and not args.twins:
            p.error("--twin_prob needs the backwards twins: add --twins to the data stage")
    if args.smoke:
        args.vae_steps, args.vae_long_steps, args.vae_full_steps, args.vae_batch, args.num_videos = 3, 2, 1, 2, 8
        args.vae_objects_steps = 2
        args.dit_steps, args.dit_batch = 2, 4
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.out.mkdir(parents=True, exist_ok=True)
    log = hy_log(args.out, args)
    for stage in STAGES:
        if stage not in stages:
            continue
        t0 = time.perf_counter()
        if stage == "tokenizer":
            write_text_encoders(args.out, args.seed + 100)
            log.stage_done(stage, time.perf_counter() - t0)
        elif stage == "data":
            encode_dataset(args, log, device)
        elif stage == "dit":
            train_dit(args, log, device)
        else:
            train_vae(args, log, device, stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())

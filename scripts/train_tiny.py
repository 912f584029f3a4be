"""Train the tiny Wan2.1 text-to-video model (task t2v-tiny) on synthetic scenes, from a seed.

    python scripts/train_tiny.py                        # everything, writes Wan2.1/Wan2.1-T2V-tiny/
    python scripts/train_tiny.py --stages dit           # retrain the DiT + T5 on the existing VAE
    python scripts/train_tiny.py --stages dit --dit_resume --dit_steps 800 --dit_lr 3e-4 --seed 3   # continue
    python scripts/train_tiny.py --smoke --out /tmp/t   # a few steps of each stage (CI)

Stages, each writing its files in the official layout so that generate.py's loaders read them back:
1. tokenizer: word level over the scene vocabulary (T5 conventions: pad 0, eos 1, unk 2).
2. vae: a small Wan-VAE (diffusers AutoencoderKLWan) trained on 5-frame 32x32 crops (a first frame and one
   causal chunk): L1 + MSE, latent noise, a small L2 pull on the latent mean, and three latent channels
   anchored to the pooled colour of their cell (weight 1, then 0.1 after half the steps).
   vae_long, vae_full: the same VAE continued on 9-frame, then full 17-frame clips, so that every causal
   chunk index of a 17-frame clip is trained (each chunk starts from the previous chunk's cache, and errors
   grow with the chunk index when only early chunks are seen).
   Afterwards upstream's per-channel latent normalisation (which WanVAE applies, constants fixed) is made
   to yield unit-variance latents by folding the measured latent statistics into the 1x1x1 quant convs.
3. data: held-in scenes rendered and encoded once by the saved VAE (through `wan.modules.vae.WanVAE`).
4. dit: WanModel and the umT5 encoder trained together with rectified flow: x_t = (1 - s) x0 + s e, the
   model predicts e - x0 at timestep 1000 s, s drawn uniformly and then shifted as the sampler shifts;
   10% empty prompts for classifier-free guidance; AdamW, warm-up then cosine decay. Half of the samples get
   one noise level per latent frame (--frame_noise_prob), 30% show a nearly clean first latent frame and
   nearly pure noise after it (--first_frame_prob), the latent cells the object touches weigh 1 + 8 in the
   loss (--foreground_weight, masks stored by the data stage), and the loss adds the error of the change
   between predicted latent frames (--motion_loss). The foreground weight is what made the model use the
   direction word; docs/tiny_model.md says what each of these did and did not achieve.

Each stage appends its losses to <out>/train_log.jsonl and its wall time to <out>/training.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Wan2.1"))  # for a run from a checkout without `pip install -e .`
sys.path.insert(0, str(REPO))

from scenes import VOCABULARY, render_scene, training_combos  # noqa: E402
from scenes.metrics import to_video  # noqa: E402
from wan.configs import WAN_CONFIGS, WanConfig  # noqa: E402
from wan.debug import save_wordlevel_tokenizer  # noqa: E402
from wan.modules.t5 import umt5_config  # noqa: E402
from wan.modules.vae import LATENT_MEAN, LATENT_STD, WanVAE, build_autoencoder  # noqa: E402
from wan.schedulers import shift_sigmas  # noqa: E402
from wan.utils.export import save_dit, save_t5, save_vae  # noqa: E402

TASK = "t2v-tiny"
STAGES = ("tokenizer", "vae", "vae_long", "vae_full", "data", "dit")
# VAE curriculum: (clip frames, steps argument). 5 frames = first frame + one causal chunk; 9 frames adds a
# chunk that starts from a previous chunk's cache; 17 frames is the full clip, so no chunk index is unseen.
VAE_STAGES = {"vae": (5, "vae_steps"), "vae_long": (9, "vae_long_steps"), "vae_full": (17, "vae_full_steps")}
DEFAULT_OUT = REPO / "Wan2.1" / "Wan2.1-T2V-tiny"
# blended twins (--twin_blend) only where every latent frame is at least this noisy: the velocity that lands on
# the asked-for clip from a blended input grows as 1 / sigma
BLEND_MIN_SIGMA = 0.5
LATENT_NOISE = 0.05  # std of the noise added to the VAE latent in training, so the decoder tolerates error


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the tiny Wan2.1 model (t2v-tiny) on synthetic scenes.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoint directory to write")
    p.add_argument("--work", type=Path, default=REPO / "outputs" / "train_tiny", help="encoded training data")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds every stage; a --dit_resume run draws from seed + 1, so give each resume its own seed "
        "or it replays the batches and noise of the previous resume",
    )
    p.add_argument("--vae_steps", type=int, default=3000)
    p.add_argument("--vae_batch", type=int, default=4)
    p.add_argument("--vae_lr", type=float, default=1e-3)
    p.add_argument("--vae_long_steps", type=int, default=1000, help="steps of the 9-frame stage")
    p.add_argument("--vae_full_steps", type=int, default=500, help="steps of the 17-frame stage")
    p.add_argument("--num_videos", type=int, default=4096, help="training videos encoded for the DiT")
    p.add_argument("--dit_steps", type=int, default=3600)
    p.add_argument("--dit_batch", type=int, default=16)
    p.add_argument("--dit_lr", type=float, default=5e-4)
    p.add_argument("--dit_resume", action="store_true", help="continue from the DiT and T5 already in --out")
    p.add_argument("--train_shift", type=float, default=3.0, help="shift applied to uniform training sigmas")
    p.add_argument("--cfg_dropout", type=float, default=0.1, help="fraction of empty prompts")
    p.add_argument(
        "--frame_noise_prob",
        type=float,
        default=0.5,
        help="fraction of samples whose latent frames get independent noise levels (frames learn to follow each other)",
    )
    p.add_argument(
        "--first_frame_prob",
        type=float,
        default=0.3,
        help="fraction of samples whose first latent frame is nearly clean and the others nearly pure noise",
    )
    p.add_argument(
        "--clean_frame",
        choices=("first", "any"),
        default="first",
        help="which latent frame those samples keep clean: the first, or one drawn per sample (see frame_sigmas)",
    )
    p.add_argument(
        "--foreground_weight",
        type=float,
        default=8.0,
        help="extra loss weight on latent cells the moving object touches (0: off; needs data with masks)",
    )
    p.add_argument(
        "--motion_loss", type=float, default=1.0, help="weight of a loss on the change between predicted latent frames"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default=None, help="cuda if available, else cpu")
    p.add_argument("--smoke", action="store_true", help="a few steps of every stage, tiny data (for CI)")
    return p


class Log:
    """Loss lines to a JSONL file; each stage run's wall time, flags and machine to a JSON record.

    The record keeps every run in order (`runs`: a stage resumed with other flags is an entry of its own) and the
    latest run of each stage (`stages`).
    """

    def __init__(
        self, out: Path, args: argparse.Namespace, losses: str = "train_log.jsonl", record: str = "training.json"
    ):
        self.out = out
        self.path = out / losses
        self.meta_path = out / record
        self.meta = json.loads(self.meta_path.read_text()) if self.meta_path.exists() else {"stages": {}}
        if "runs" not in self.meta and "args" in self.meta:
            # a record from before `runs`: its top-level flags were one earlier run's (of the stages it names)
            older = {"stage": self.meta["args"].get("stages"), "machine": self.meta.pop("machine", None)}
            self.meta["runs"] = [{**older, "args": self.meta.pop("args")}]
        self.meta.setdefault("runs", [])
        self.machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
        self.args = {k: str(v) for k, v in vars(args).items()}

    def loss(self, stage: str, step: int, **values: float) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"stage": stage, "step": step, **{k: round(v, 6) for k, v in values.items()}}) + "\n")

    def stage_done(self, stage: str, seconds: float, **extra) -> None:
        self.meta["stages"][stage] = {"seconds": round(seconds, 1), **extra}
        finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        run = {"stage": stage, **self.meta["stages"][stage], "finished": finished, "machine": self.machine}
        self.meta["runs"].append({**run, "args": self.args})
        tmp = self.meta_path.with_name(self.meta_path.name + ".partial")
        tmp.write_text(json.dumps(self.meta, indent=2))
        tmp.replace(self.meta_path)


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


# ---------------------------------------------------------------------------------------------------
# 1. tokenizer


def build_word_tokenizer(path: Path, vocab_size: int) -> None:
    """Lowercased, split on whitespace and punctuation, one id per scene word; </s> appended, as T5's."""
    from tokenizers import pre_tokenizers

    save_wordlevel_tokenizer(path, list(VOCABULARY), vocab_size, pre_tokenizers.Whitespace(), "word")


# ---------------------------------------------------------------------------------------------------
# 2. VAE


def vae_batch(
    rng: np.random.Generator,
    pool,
    batch: int,
    frames: int,
    crop: int,
    full_frames: int,
    foreground: bool = False,
    around_object: bool = False,
):
    """Random `frames`-frame clips of rendered 64x64 scenes of `full_frames` frames, randomly cropped to crop x crop.

    With `foreground`, also the objects' masks of the same crops ([B, 1, F, H, W], 0/1), for a weighted loss.
    With `around_object`, each crop is centred near the object at the clip's middle frame (jittered by up to a
    quarter of the crop), so that most of its pixels are not background.
    """
    w, h = 64, 64
    clips, masks = [], []
    for _ in range(batch):
        scene = pool[int(rng.integers(len(pool)))]
        rendered = render_scene(scene, full_frames, h, w, seed=int(rng.integers(2**31)))
        f0 = int(rng.integers(full_frames - frames + 1))
        if around_object:
            centre = rendered.centres[0, f0 + frames // 2] + rng.uniform(-crop / 4, crop / 4, size=2)
            x0, y0 = (int(np.clip(round(c - crop / 2), 0, n - crop)) for c, n in zip(centre, (w, h), strict=True))
        else:
            y0, x0 = (int(v) for v in rng.integers(0, h - crop + 1, size=2))
        window = (slice(f0, f0 + frames), slice(y0, y0 + crop), slice(x0, x0 + crop))
        clips.append(to_video(rendered.video[window]))
        masks.append(torch.from_numpy(rendered.foreground[window]))
    x = torch.stack(clips)
    return (x, torch.stack(masks)[:, None].float()) if foreground else x


def latent_anchor(x: torch.Tensor) -> torch.Tensor:
    """Mean colour of each latent cell: 8x8 pixels of the first frame alone, then of each group of 4 frames."""
    first = F.avg_pool3d(x[:, :, :1], (1, 8, 8))
    if x.shape[2] == 1:
        return first
    return torch.cat([first, F.avg_pool3d(x[:, :, 1:], (4, 8, 8))], dim=2)


def fold_latent_normalisation(vae: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make (mu - LATENT_MEAN) / LATENT_STD have the measured unit statistics, without changing outputs.

    The encoder's quant conv emits (mu, logvar); mapping mu -> M + S (mu - m) / s (M, S upstream constants;
    m, s measured) and the decoder's post-quant conv to undo it leaves reconstructions identical.
    """
    m, s = mean.double(), std.double()
    big_m, big_s = torch.tensor(LATENT_MEAN, dtype=torch.float64), torch.tensor(LATENT_STD, dtype=torch.float64)
    z = len(LATENT_MEAN)
    a = big_s / s  # per-channel scale of the new mu
    with torch.no_grad():
        q = vae.quant_conv
        w, b = q.weight.double(), q.bias.double()
        w[:z] *= a.view(-1, 1, 1, 1, 1)
        b[:z] = big_m + a * (b[:z] - m)
        b[z:] += 2 * torch.log(a)  # the posterior std scales with mu
        q.weight.copy_(w), q.bias.copy_(b)
        pq = vae.post_quant_conv
        w2, b2 = pq.weight.double(), pq.bias.double()
        # old z = m + (new z - M) / a  ->  W2 old z = (W2 / a) new z + W2 (m - M / a)
        b2 += w2[:, :, 0, 0, 0] @ (m - big_m / a)
        w2 /= a.view(1, -1, 1, 1, 1)
        pq.weight.copy_(w2), pq.bias.copy_(b2)


def vae_step(
    vae,
    opt,
    x: torch.Tensor,
    step: int,
    steps: int,
    long: bool,
    anchor_weight: float = 1.0,
    foreground: torch.Tensor | None = None,
    foreground_weight: float = 0.0,
):
    """One optimiser step of a tiny VAE stage on clips x (both tiny models' recipe); (loss, L1, anchor).

    `foreground` (the objects' masks of x) weighs object pixels 1 + foreground_weight times the background's.
    """
    # A deterministic autoencoder with a little latent noise: a KL term at a weight that matters collapses
    # the posterior at this size, and inference only uses the mode anyway.
    mu = vae.encode(x).latent_dist.mode()
    y = vae.decode(mu + LATENT_NOISE * torch.randn_like(mu)).sample
    err = y - x
    rec = err.abs().mean()
    weight = 1.0 if foreground is None else 1.0 + foreground_weight * foreground
    # L1 alone settles on the background for long; the squared term pulls the objects in.
    loss = (weight * err.abs()).mean() + (weight * err.pow(2)).mean()
    anchor = torch.zeros(())
    if not long:
        # From scratch the Wan encoder barely passes colour through its per-pixel RMS norms for hundreds
        # of steps; anchoring three latent channels to the pooled colour of each latent cell gets it going.
        # A small L2 pull keeps the latent scale in check until the statistics are folded in.
        anchor = (mu[:, :3] - latent_anchor(x)).pow(2).mean()
        warm = anchor_weight if step < steps // 2 else 0.1 * anchor_weight
        loss = loss + 1e-3 * mu.pow(2).mean() + warm * anchor
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
    opt.step()
    return loss, rec, anchor


def train_vae(args, cfg: WanConfig, log: Log, device: torch.device, stage: str) -> None:
    """Stage "vae" trains from scratch; "vae_long" and "vae_full" continue from the saved VAE on longer clips
    (VAE_STAGES), at half the learning rate and without the warm-start terms."""
    from wan.modules.vae import vae_to_diffusers
    from wan.utils.checkpoint import load_torch_file

    index = list(VAE_STAGES).index(stage)
    long = index > 0
    torch.manual_seed(args.seed + index)
    rng = np.random.default_rng(args.seed + 10 * index)
    pool = training_combos()
    vae = build_autoencoder(cfg.vae)
    if long:
        sd = vae_to_diffusers(load_torch_file(args.out / cfg.vae_checkpoint), cfg.vae.num_res_blocks)
        vae.load_state_dict(sd, strict=True)
    vae = vae.to(device).train()
    peak = args.vae_lr / 2 if long else args.vae_lr
    opt = torch.optim.Adam(vae.parameters(), lr=peak)
    frames, steps_arg = VAE_STAGES[stage]
    steps = getattr(args, steps_arg)
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=stage)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, peak, warmup=max(1, steps // 20))
        x = vae_batch(rng, pool, args.vae_batch, frames=frames, crop=32, full_frames=cfg.frame_num).to(device)
        loss, rec, anchor = vae_step(vae, opt, x, step, steps, long)
        bar.update()
        bar.set_postfix(rec=f"{rec.item():.4f}", anchor=f"{anchor.item():.3f}")
        log.loss(stage, step, loss=loss.item(), rec=rec.item(), anchor=anchor.item())
    bar.close()

    # Latent statistics of full clips, then fold them in (reconstructions unchanged, latents unit-scaled).
    vae.eval()
    with torch.no_grad():
        n_batches = 2 if args.smoke else 16
        videos = [vae_batch(rng, pool, 4, cfg.frame_num, 64, cfg.frame_num) for _ in range(n_batches)]
        mus = torch.cat([vae.encode(v.to(device)).latent_dist.mode() for v in videos])  # [N, 16, F', 8, 8]
        mean = mus.transpose(0, 1).flatten(1).mean(dim=1).cpu()
        std = mus.transpose(0, 1).flatten(1).std(dim=1).clamp_min(1e-3).cpu()
        recon_before = vae.decode(mus[: len(videos[0])]).sample  # mus starts with videos[0]
        fold_latent_normalisation(vae, mean.to(device), std.to(device))
        recon_after = vae.decode(vae.encode(videos[0].to(device)).latent_dist.mode()).sample
        fold_err = float((recon_after - recon_before).abs().max())
        l1 = float((recon_after.clamp(-1, 1) - videos[0].to(device)).abs().mean())
    save_vae(args.out, cfg, vae.cpu())
    logger.info(f"{stage}: full-clip L1 {l1:.4f} (in [-1, 1] units), folding changed outputs by {fold_err:.2e}")
    log.stage_done(stage, time.perf_counter() - t0, steps=steps, full_clip_l1=round(l1, 5))


# ---------------------------------------------------------------------------------------------------
# 3. data


def latent_masks(masks: np.ndarray, stride: tuple[int, int, int]) -> torch.Tensor:
    """Pixel foreground [F, H, W] -> the latent cells it touches [1 + (F - 1) // st, H // sh, W // sw] (bool).

    Latent frame 0 holds pixel frame 0 alone and latent frame k holds pixel frames 4k-3 .. 4k, as the causal
    Wan-VAE encodes them; a cell counts as foreground when the object covers any of its pixels in any of them.
    """
    st, sh, sw = stride
    m = torch.from_numpy(masks)
    chunks = [m[:1]] + list(m[1:].split(st))
    per_frame = torch.stack([c.any(dim=0) for c in chunks]).float()  # [F_lat, H, W]
    return F.max_pool2d(per_frame[:, None], (sh, sw))[:, 0].bool()


def encode_dataset(args, cfg: WanConfig, log: Log, device: torch.device) -> None:
    t0 = time.perf_counter()
    vae = WanVAE(args.out / cfg.vae_checkpoint, cfg.vae, device=device)
    rng = np.random.default_rng(args.seed + 1)
    pool = training_combos()
    latents, prompts, fg = [], [], []
    batch = 8
    for _ in tqdm(range(0, args.num_videos, batch), desc="encode"):
        scenes = [
            render_scene(pool[int(rng.integers(len(pool)))], cfg.frame_num, 64, 64, int(rng.integers(2**31)))
            for _ in range(batch)
        ]
        x = torch.stack([to_video(r.video) for r in scenes]).to(device)
        with torch.inference_mode():
            mu = vae.model.encode(x).latent_dist.mode().float()
        latents.append(((mu - vae.mean.to(device)) / vae.std.to(device)).cpu())
        prompts += [r.scene.prompt for r in scenes]
        fg += [latent_masks(r.foreground, cfg.vae_stride) for r in scenes]
    z = torch.cat(latents)[: args.num_videos]
    data = {
        "latents": z.to(torch.float16),
        "prompts": prompts[: args.num_videos],
        "masks": torch.stack(fg[: args.num_videos]),  # [N, F_lat, H_lat, W_lat] bool
    }
    torch.save(data, args.work / "latents.pt")
    logger.info(f"encoded {len(z)} videos: latent mean {z.mean():.3f}, std {z.std():.3f}")
    log.stage_done("data", time.perf_counter() - t0, videos=len(z), latent_std=round(float(z.std()), 4))


# ---------------------------------------------------------------------------------------------------
# 4. DiT + T5


def frame_sigmas(args, batch: int, frames: int, gen: torch.Generator) -> torch.Tensor:
    """Training noise levels, [batch, 1, frames, 1, 1]: one per sample, or with probability
    `frame_noise_prob` one per latent frame (as in diffusion forcing), or with probability `first_frame_prob`
    one nearly clean latent frame (the first, or with `clean_frame` "any" one drawn per sample) among nearly
    pure noise; all shifted like the sampler's."""
    u = torch.rand(batch, 1, generator=gen).expand(batch, frames).clone()
    if args.frame_noise_prob > 0:  # no extra draws when off: such runs keep the random stream of earlier recipes
        per_frame = torch.rand(batch, generator=gen) < args.frame_noise_prob
        u[per_frame] = torch.rand(int(per_frame.sum()), frames, generator=gen)
    if args.first_frame_prob > 0:
        # Image-to-video-like samples: the first frame shows where the object is and the later frames show
        # nothing, so only the prompt's direction word says where it goes (otherwise noisy later frames
        # almost always give the direction away, and the word is never needed).
        first = torch.rand(batch, generator=gen) < args.first_frame_prob
        k = int(first.sum())
        clean = 0.2 * torch.rand(k, 1, generator=gen)
        noisy = 1 - 0.1 * torch.rand(k, frames - 1, generator=gen)
        # "any": in sampling every frame starts as noise and the object may settle in a middle frame first; a
        # clean middle frame asks the model to continue it both ways, backwards against the word's direction.
        if args.clean_frame == "any":
            where = torch.randint(frames, (k,), generator=gen)
        else:
            where = torch.zeros(k, dtype=torch.long)
        rows = torch.cat([clean, noisy], dim=1)  # the clean level first, then moved to its frame
        order = torch.arange(frames).expand(k, frames)
        source = torch.where(order < where[:, None], order + 1, torch.where(order == where[:, None], 0, order))
        u[first] = rows.gather(1, source)
    sigma = torch.from_numpy(shift_sigmas(u.numpy(), args.train_shift)).float()
    return sigma.view(batch, 1, frames, 1, 1)


class NoisedBatch(NamedTuple):
    pick: torch.Tensor  # [B] indices into the encoded data
    prompts: torch.Tensor  # [B] prompt indices, some replaced by the unconditional one
    x0: torch.Tensor  # [B, C, F, H, W] clean latents
    noise: torch.Tensor
    s: torch.Tensor  # [B, 1, F, 1, 1] noise level per latent frame
    sigma: torch.Tensor  # [B] the timestep the model is told: the noisiest frame's
    xt: torch.Tensor


def noised_batch(
    args,
    latents: torch.Tensor,
    prompt_idx: torch.Tensor,
    unconditional: int,
    gen: torch.Generator,
    device,
    twins: torch.Tensor | None = None,
) -> NoisedBatch:
    """One DiT training batch of both tiny models, drawn from `gen` in a fixed order (pick, prompt dropout,
    noise, noise levels), so that a seed names the same batches for either model.

    With `twins` (per video, the index of the same video played backwards under the opposite direction word,
    or -1) and `args.twin_prob`, that share of the first half's samples has its twin in the second half, with
    the same noise and noise levels: where the noise hides the order of the frames, only the word tells the two
    targets apart (the draws for it come last, so other recipes keep their batches). `args.twin_blend` also
    mixes that share of the pairs whose frames are all noisy into each other (below).
    """
    pick = torch.randint(len(latents), (args.dit_batch,), generator=gen)
    prompts = prompt_idx[pick].clone()
    prompts[torch.rand(args.dit_batch, generator=gen) < args.cfg_dropout] = unconditional
    noise = torch.randn((args.dit_batch, *latents.shape[1:]), generator=gen)
    s = frame_sigmas(args, args.dit_batch, latents.shape[2], gen)
    if twins is not None and getattr(args, "twin_prob", 0) > 0:
        half = args.dit_batch // 2
        first = torch.arange(half)
        paired = first[(twins[pick[:half]] >= 0) & (torch.rand(half, generator=gen) < args.twin_prob)]
        second = half + paired
        pick[second] = twins[pick[paired]]
        dropped = prompts[paired] == unconditional
        prompts[second] = torch.where(dropped, unconditional, prompt_idx[pick[second]])
        noise[second], s[second] = noise[paired], s[paired]
    x0 = latents[pick]
    xt = (1 - s) * x0 + s * noise
    if twins is not None and getattr(args, "twin_prob", 0) > 0 and getattr(args, "twin_blend", 0) > 0:
        # Blended twins: a pair's two inputs are both clips mixed, each mostly its own, up to half and half,
        # so the noisy frames show both senses (at 0.5 equally) and only the word says which target is
        # asked for. In sampling the first faint object is the noise's guess; a model that follows it picks
        # the sense at random. Only where every frame is noisy: the target's velocity grows as 1 / sigma.
        noisy = s[paired].flatten(1).amin(dim=1) >= BLEND_MIN_SIGMA
        chosen = paired[noisy & (torch.rand(len(paired), generator=gen) < args.twin_blend)]
        lam = 0.25 + 0.25 * torch.rand(len(chosen), 1, 1, 1, 1, generator=gen)
        a, b = chosen, half + chosen
        for i, j in ((a, b), (b, a)):
            xt[i] = (1 - s[i]) * ((1 - lam) * x0[i] + lam * x0[j]) + s[i] * noise[i]
        # The noise the flow target sees there: the one that makes xt a noised x0, so that the target
        # noise - x0 is the velocity that lands on the asked-for clip.
        rows = torch.cat([a, b])
        noise[rows] = (xt[rows] - (1 - s[rows]) * x0[rows]) / s[rows]
    x0, noise, s, xt = x0.to(device), noise.to(device), s.to(device), xt.to(device)
    # The model takes one timestep per sample: the noisiest frame's, so frames cleaner than that are
    # information it has to find in the input, as when it must make one frame follow another.
    sigma = s.flatten(1).amax(dim=1)
    return NoisedBatch(pick, prompts, x0, noise, s, sigma, xt)


def flow_loss(args, pred, x0, noise, xt, s, masks=None) -> torch.Tensor:
    """The velocity loss of one batch [B, C, F, H, W]: target noise - x0, the foreground cells weighted, plus
    the motion term (both models' tiny recipe)."""
    if masks is None:
        loss = F.mse_loss(pred, noise - x0)
    else:
        # The object touches about a tenth of the latent cells, and its placement (and so the prompt's
        # direction) is a sliver of a plain MSE; weighting those cells makes it about half of the loss.
        weight = 1 + args.foreground_weight * masks
        loss = (weight * (pred - (noise - x0)) ** 2).mean() / weight.mean()
    if args.motion_loss:
        # x0 as the model predicts it, and its change from one latent frame to the next: the static
        # background cancels, so this term is about where the object goes.
        x0_hat = xt - s * pred
        loss = loss + args.motion_loss * F.mse_loss(x0_hat.diff(dim=2), x0.diff(dim=2))
    return loss


def train_dit(args, cfg: WanConfig, log: Log, device: torch.device) -> None:
    from transformers import UMT5EncoderModel

    from wan.modules.model import WanModel
    from wan.modules.tokenizers import HuggingfaceTokenizer

    t0 = time.perf_counter()
    name = "dit_resume" if args.dit_resume else "dit"
    data = torch.load(args.work / "latents.pt")
    latents, prompts = data["latents"].float(), data["prompts"]
    masks = data["masks"][:, None].float() if args.foreground_weight else None  # [N, 1, F, H, W]
    tokenizer = HuggingfaceTokenizer(args.out / cfg.t5_tokenizer, seq_len=cfg.text_len)
    unique = sorted(set(prompts) | {""})
    ids, mask = tokenizer(unique)
    index = {p: i for i, p in enumerate(unique)}
    prompt_idx = torch.tensor([index[p] for p in prompts])
    empty = index[""]

    torch.manual_seed(args.seed + args.dit_resume)
    t5 = UMT5EncoderModel(umt5_config(cfg.t5))
    dit = WanModel(**cfg.model_kwargs())
    if args.dit_resume:
        from wan.modules.model import load_wan_model
        from wan.modules.t5 import load_umt5_encoder

        # The generation loaders (every key checked) may leave weights mapped from the files we overwrite at
        # the end: copy them into the freshly built modules instead of training those.
        t5.load_state_dict(load_umt5_encoder(cfg.t5, args.out / cfg.t5_checkpoint).state_dict())
        dit.load_state_dict(load_wan_model(str(args.out)).state_dict())
    t5 = t5.to(device).eval()  # no dropout; its parameters still train
    dit = dit.to(device).train()
    params = [*dit.parameters(), *t5.parameters()]
    opt = torch.optim.AdamW(params, lr=args.dit_lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed + args.dit_resume)
    seq_len = int(np.prod([s // p for s, p in zip(latents.shape[2:], cfg.patch_size, strict=True)]))
    bar = tqdm(range(args.dit_steps), desc=name)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, args.dit_steps, args.dit_lr, warmup=max(1, args.dit_steps // 20))
        b = noised_batch(args, latents, prompt_idx, empty, gen, device)
        b_ids, b_mask = ids[b.prompts].to(device), mask[b.prompts].to(device)
        hidden = t5(input_ids=b_ids, attention_mask=b_mask).last_hidden_state
        context = [h[: int(n)] for h, n in zip(hidden, b_mask.sum(dim=1), strict=True)]
        pred = torch.stack(dit(list(b.xt), t=b.sigma * cfg.num_train_timesteps, context=context, seq_len=seq_len))
        fg = None if masks is None else masks[b.pick].to(device)
        loss = flow_loss(args, pred, b.x0, b.noise, b.xt, b.s, fg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        log.loss(name, step, loss=loss.item(), lr=opt.param_groups[0]["lr"])
    save_dit(args.out, cfg, dit.cpu())
    save_t5(args.out, cfg, t5.cpu())
    log.stage_done(name, time.perf_counter() - t0, steps=args.dit_steps, final_loss=round(loss.item(), 5))


def check_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The DiT recipe's flags in range (both tiny models' scripts), before anything is written."""
    for name in ("cfg_dropout", "frame_noise_prob", "first_frame_prob", "twin_prob", "twin_blend"):
        if not hasattr(args, name):  # twin_prob, twin_blend: the HunyuanVideo script's
            continue
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name} is a fraction of samples: accepted 0 to 1, got {getattr(args, name)}")
    for name in ("motion_loss", "foreground_weight"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} is a loss weight: accepted >= 0, got {getattr(args, name)}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        parser.error(f"unknown --stages {', '.join(bad) or '(empty)'}; accepted: {', '.join(STAGES)}")
    check_recipe(parser, args)
    if args.smoke:
        args.vae_steps, args.vae_long_steps, args.vae_full_steps, args.vae_batch = 2, 2, 1, 1
        args.num_videos, args.dit_steps, args.dit_batch = 8, 2, 4
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg = WAN_CONFIGS[TASK]
    if args.dit_resume and not (args.out / "config.json").is_file():
        parser.error(f"--dit_resume needs a trained DiT in {args.out}")
    needs = {
        "vae": None,
        "vae_long": args.out / cfg.vae_checkpoint,
        "vae_full": args.out / cfg.vae_checkpoint,
        "data": args.out / cfg.vae_checkpoint,
        "dit": args.work / "latents.pt",
    }
    for stage, f in needs.items():
        if stage in stages and f and STAGES[STAGES.index(stage) - 1] not in stages and not f.exists():
            parser.error(f"stage {stage} needs {f}: run the earlier stages first")
    data_file = needs["dit"]
    if "dit" in stages and "data" not in stages and args.foreground_weight and data_file.exists():
        # mmap: only the keys are read here; train_dit loads the tensors
        if "masks" not in torch.load(data_file, mmap=True):  # written by an earlier version of the data stage
            parser.error(f"--foreground_weight needs the object masks that {data_file} lacks: re-run --stages data")
    if "dit" in stages and "tokenizer" not in stages and not (args.out / cfg.t5_tokenizer).is_dir():
        parser.error(f"stage dit needs the tokenizer in {args.out / cfg.t5_tokenizer}: add the tokenizer stage")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    log = Log(args.out, args)
    logger.info(f"training {TASK} into {args.out} on {device}: stages {', '.join(stages)}")
    if "tokenizer" in stages:
        build_word_tokenizer(args.out / cfg.t5_tokenizer, cfg.t5.vocab_size)
    for stage in VAE_STAGES:
        if stage in stages:
            train_vae(args, cfg, log, device, stage)
    if "data" in stages:
        encode_dataset(args, cfg, log, device)
    if "dit" in stages:
        train_dit(args, cfg, log, device)
    total = sum(v["seconds"] for v in log.meta["stages"].values())
    logger.info(f"done: {args.out} (stage wall times {log.meta['stages']}, total {total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

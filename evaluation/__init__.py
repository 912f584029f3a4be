"""evaluation: how every caching method is scored against full compute (the paper's protocol, method.md §6)."""

from .metrics import read_mp4, to_uint8, video_psnr, video_ssim

__all__ = ["read_mp4", "to_uint8", "video_psnr", "video_ssim"]

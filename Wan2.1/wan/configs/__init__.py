"""Task registry: WAN_CONFIGS, SIZE_CONFIGS, SUPPORTED_SIZES (upstream names, frozen dataclasses)."""

from .shared import WanCLIPConfig, WanConfig, WanT5Config, WanVAEConfig
from .tasks import DEBUG_I2V, DEBUG_T2V, I2V_14B, T2V_1_3B, T2V_14B, TINY_T2V

WAN_CONFIGS: dict[str, WanConfig] = {
    "t2v-14B": T2V_14B,
    "t2v-1.3B": T2V_1_3B,
    "t2v-debug": DEBUG_T2V,
    "t2v-tiny": TINY_T2V,
    "i2v-14B": I2V_14B,
    "i2v-debug": DEBUG_I2V,
}

# --size is W*H as upstream; values are (width, height).
SIZE_CONFIGS: dict[str, tuple[int, int]] = {
    "720*1280": (720, 1280),
    "1280*720": (1280, 720),
    "480*832": (480, 832),
    "832*480": (832, 480),
    "1024*1024": (1024, 1024),
    "64*64": (64, 64),
    "128*128": (128, 128),
    "128*64": (128, 64),
}

MAX_AREA_CONFIGS: dict[str, int] = {k: w * h for k, (w, h) in SIZE_CONFIGS.items()}

# The first entry of each tuple is the task's default size.
SUPPORTED_SIZES: dict[str, tuple[str, ...]] = {
    "t2v-14B": ("1280*720", "720*1280", "832*480", "480*832"),
    "t2v-1.3B": ("832*480", "480*832"),
    "t2v-debug": ("64*64", "128*128", "128*64"),
    "t2v-tiny": ("64*64",),
    "i2v-14B": ("1280*720", "720*1280", "832*480", "480*832"),  # I2V: the area; the image sets the aspect
    "i2v-debug": ("64*64", "128*128", "128*64"),
}

__all__ = [
    "WAN_CONFIGS",
    "SIZE_CONFIGS",
    "MAX_AREA_CONFIGS",
    "SUPPORTED_SIZES",
    "WanCLIPConfig",
    "WanConfig",
    "WanT5Config",
    "WanVAEConfig",
]

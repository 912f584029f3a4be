from .model import WanModel
from .t5 import T5EncoderModel
from .vae import WanVAE

__all__ = ["WanModel", "T5EncoderModel", "WanVAE"]

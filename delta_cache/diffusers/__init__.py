"""delta_cache for diffusers users: `enable_delta_cache(pipe, preset=... | method=..., **settings)`.

Supported: `WanTransformer3DModel` (Wan2.1 T2V / I2V, Wan2.2 with both experts), `HunyuanVideoTransformer3DModel`
and `HunyuanVideo15Transformer3DModel`, in their pipelines or alone. diffusers is imported when the cache is
enabled, never by `import delta_cache`. docs/diffusers.md shows the usage and what was measured.
"""

from .adapter import DiffusersCache, disable_delta_cache, enable_delta_cache
from .models import SUPPORTED, describe

__all__ = ["enable_delta_cache", "disable_delta_cache", "DiffusersCache", "describe", "SUPPORTED"]

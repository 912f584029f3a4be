"""Model-agnostic ProfilingDiT delta cache (in progress: see the delta_cache issue)."""

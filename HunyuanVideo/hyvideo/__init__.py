"""HunyuanVideo inference stack (in progress: see the HunyuanVideo issue)."""

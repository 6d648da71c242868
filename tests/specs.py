"""Service specs the tests deploy (the shipped examples, plus shapes that exercise one path)."""

import yaml

from tests.stack import EXAMPLES


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def scale_path_spec() -> dict:
    """More than the cloud's shared cluster can hold, pinned to France's cloud: placement grows
    the shared cluster (ScaleCluster) instead of building a new one."""
    return {
        "name": "big-batch",
        "components": [{"name": "batch", "image": "registry.example/batch", "version": "1.0", "replicas": 10,
                        "cpu": 30, "memory_mb": 65536}],
        "policy": {"allowed_providers": ["ovhcloud"], "weight_cost": 1.0},
    }

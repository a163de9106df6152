"""The Ray engine (`--engine ray`): a job's videos decoded by CPU tasks and embedded by a pool of
model actors on a Ray cluster, with Ray Data. Ray is imported only when a job runs; without it,
`require_ray` says how to install it.

`stages` runs on the workers, `assemble` puts each video back together on the driver, `engine`
wires them into a Ray Dataset.
"""

from clipground.engine.ray.engine import INSTALL_HINT, RayEngine, RaySetup, require_ray

__all__ = ["INSTALL_HINT", "RayEngine", "RaySetup", "require_ray"]

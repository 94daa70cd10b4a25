"""Everything an agent acts in: env construction, wrappers, and gymlab's registered envs
(``gymlab/Digits-v0`` and the other single-step supervised tasks, registered on import)."""

from envs.make import VECTORIZATIONS, check_env_id, env_ids, make_env, make_vec_env
from envs.minatar import register_minatar
from envs.native import NATIVE, CartPoleVectorEnv
from envs.single_step import SingleStepEnv, SingleStepVectorEnv, register_envs
from envs.surfaces import ErrorSurfaceEnv, register_surfaces

register_envs()
register_surfaces()
register_minatar()

__all__ = [
    "NATIVE",
    "VECTORIZATIONS",
    "CartPoleVectorEnv",
    "ErrorSurfaceEnv",
    "SingleStepEnv",
    "SingleStepVectorEnv",
    "check_env_id",
    "env_ids",
    "make_env",
    "make_vec_env",
    "register_envs",
    "register_minatar",
    "register_surfaces",
]

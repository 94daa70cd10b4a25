"""Everything an agent acts in: env construction, wrappers, and gymlab's registered envs."""

from envs.make import check_env_id, env_ids, make_env, make_vec_env

__all__ = ["check_env_id", "env_ids", "make_env", "make_vec_env"]

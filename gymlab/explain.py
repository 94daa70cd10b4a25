"""``gymlab explain RUN``: why a trained run decides what it decides, as attribution maps.

The run's network (observations -> logits: a classifier, or a discrete-action policy) explains
``n`` observations: the first of its test split on a supervised task, or the first steps of one
episode it plays. Each is shown beside its attribution map (:mod:`supervised.attributions`) and
captioned with the prediction; the grid goes to a PNG and to the run's TensorBoard (IMAGES tab).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents import runs
from agents.evaluation import make_eval_env
from agents.robustness import attackable_model
from envs import SingleStepEnv
from lectures.runner import Panel, grey_unit, heatmap, plot
from supervised.attributions import METHODS, attribute


def observations_to_explain(agent, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` observations (n, *obs_shape) and their labels (None for a policy): the test split's
    first ``n`` examples, or the first ``n`` steps of an episode the agent plays (fewer if it ends)."""
    env, _ = make_eval_env(agent.env_id, agent.env_kwargs)
    try:
        if isinstance(env.unwrapped, SingleStepEnv):
            dataset = env.unwrapped.dataset
            return dataset.x[:n], dataset.y[:n]
        policy = agent.policy_fn(deterministic=True)
        obs, _ = env.reset(seed=seed)
        seen = [obs]
        while len(seen) < n:
            obs, _, terminated, truncated, _ = env.step(policy(obs))
            if terminated or truncated:
                break
            seen.append(obs)
        return np.stack(seen), None
    finally:
        env.close()


def as_picture(values: np.ndarray) -> np.ndarray:
    """One observation or map as a 2-D picture: a 1-channel image as (H, W), a vector as one row."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 3:
        return values.mean(axis=0) if values.shape[0] <= 4 else values.mean(axis=-1)  # channels first or last
    return values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None]


def explain_run(run_dir: str | Path, method: str, n: int = 16, out: str | Path | None = None, device: str = "cpu"):
    """Attribution maps of ``method`` for ``n`` observations of the run at ``run_dir``; writes the
    PNG (default RUN/explain-<method>.png) and TensorBoard images. Returns (png path, accuracy of
    the predictions shown or None)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a run directory; pass one made by gymlab train")
    _, agent = runs.load_run(run_dir, device)
    model = attackable_model(agent)
    obs, labels = observations_to_explain(agent, n)
    x = torch.tensor(np.array(obs), dtype=torch.float32, device=agent.device)  # (n, *obs_shape)
    with agent.own_process_state():
        with torch.no_grad():
            predictions = model(x).argmax(dim=-1).cpu().numpy()  # (n,)
        maps = attribute(method, model, x).detach().cpu().numpy()  # (n, *obs_shape)
    images = []
    for i in range(len(obs)):
        truth = "" if labels is None else f" (label {labels[i]})"
        images.append((f"#{i}{truth}", as_picture(obs[i])))
        images.append((f"{method}: {predictions[i]}", heatmap(as_picture(maps[i]))))
    png = run_dir / f"explain-{method}.png" if out is None else Path(out)
    png.parent.mkdir(parents=True, exist_ok=True)
    title = f"{agent.env_id}: input and |{method}| of the predicted class's logit"
    rows = -(-len(images) // 8)
    plot([Panel(title, images=images)], f"gymlab explain {run_dir.name}", png, panel_size=(9.0, 1.2 * rows + 0.8))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir))
    for i, (caption, picture) in enumerate(images):
        picture = grey_unit(picture)
        writer.add_image(f"explain/{method}/{i // 2:02d} {caption}", picture, agent.num_timesteps,
                         dataformats="HWC" if picture.ndim == 3 else "HW")  # fmt: skip
    writer.close()
    accuracy = None if labels is None else float((predictions == np.asarray(labels)).mean())
    return png, accuracy

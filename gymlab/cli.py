"""The ``gymlab`` command: train, eval, record, explain, demos, export, compress, board, sweep, cv, list,
lecture."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from gymlab.config import parse_env_kwargs

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of the usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def count(text: str) -> int:
    """A whole number as papers write it: ``100000``, ``100_000``, ``1e5``, ``2.5e4``."""
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number.is_integer() or number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 such as 100000, 100_000 or 1e5, got {text!r}")
    return int(number)


def positive(text: str) -> int:
    """A whole number >= 1, written as :func:`count` reads it."""
    try:
        number = count(text)
    except argparse.ArgumentTypeError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return number


def _device(args) -> str:
    return args.device


def cmd_train(args) -> int:
    from agents import runs
    from gymlab import train

    quiet = args.quiet or not sys.stderr.isatty()
    if args.resume:
        if args.agent or args.env_id:
            raise ValueError("give either AGENT ENV_ID or --resume RUN_DIR, not both")
        changes = (args.n_envs, args.seed, args.run_dir, args.init_from)
        if args.set or args.env_kwargs or any(change is not None for change in changes):
            raise ValueError(
                "--n-envs, --set, --seed, --env-kwargs, --init-from and --run-dir cannot change a run being resumed; "
                "start a new run instead"
            )
        run_dir, agent, metrics = train.resume(
            args.resume, args.device, args.steps, args.video, quiet, args.eval_every, args.eval_episodes
        )
    else:
        if not (args.agent and args.env_id):
            raise ValueError("train needs AGENT and ENV_ID (e.g. `gymlab train ppo CartPole-v1`), or --resume RUN_DIR")
        run_dir, agent, metrics = train.train(
            args.agent, args.env_id, 0 if args.seed is None else args.seed, args.device, args.set, args.steps, args.n_envs,
            args.run_dir, args.video, quiet, args.eval_every, args.eval_episodes, parse_env_kwargs(args.env_kwargs),
            args.init_from,
        )  # fmt: skip
    print(f"run:         {run_dir}")
    print(f"steps:       {agent.num_timesteps}")
    extra = agent.num_timesteps - agent.config.total_steps
    if extra > 0:
        print(f"             ({extra} past --steps {agent.config.total_steps}: training stops after whole iterations)")
    print(f"fps:         {metrics.get('time/fps', float('nan')):.0f}")
    if agent.episodes.returns:
        mean = agent.episodes.mean_return()
        print(f"ep_rew_mean: {mean:.2f} (last {len(agent.episodes.returns)} training episodes)")
    for key, value in agent.summary(metrics).items():
        print(f"{key + ':':<12} {value:.4f}")
    for line in agent.summary_lines(metrics) if hasattr(agent, "summary_lines") else []:
        print(line)  # a learner's quality figures (GAN, BC), each with how to read it
    best = runs.best_evaluation(run_dir) if agent.config.eval_every else None
    if best is not None:
        print(f"best:        eval mean_reward {best['mean_reward']:.2f} at step {best['step']:.0f} (--best loads it)")
    print(f"next:        gymlab eval {run_dir}  |  gymlab record {run_dir}  |  gymlab board {run_dir}")
    return 0


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from agents.logger import RunLogger
    from gymlab import play

    check_attack_args(args)
    agent, run_dir = play.load_player(args.run_dir, args.env, args.device, args.best, parse_env_kwargs(args.env_kwargs))
    if args.anomaly:
        return eval_anomaly(agent, run_dir, args.json)
    if args.attack is not None:
        return eval_under_attack(args, agent, run_dir)
    print_statistics_source(agent)
    print_split_and_reward(agent, "test")
    bar = tqdm(total=args.episodes, unit="ep", disable=None, file=sys.stderr, leave=False)
    returns: list[float] = []

    def tick(episode_return: float, _length: int) -> None:
        returns.append(episode_return)
        bar.update(1)
        bar.set_postfix_str(f"mean_return={sum(returns) / len(returns):.1f}", refresh=False)

    stats = agent.evaluate(args.episodes, args.deterministic, seed=args.seed, on_episode=tick)
    bar.close()
    if run_dir is not None:
        logger = RunLogger(run_dir, start_step=0)
        logger.scalars({f"test/{k}": v for k, v in stats.items()}, agent.num_timesteps)
        logger.close()
    mode = "deterministic" if args.deterministic else "stochastic"
    lines = agent.eval_lines(stats) if hasattr(agent, "eval_lines") else None
    if returns or lines is None:  # a GAN plays no episodes: its eval_lines judge its samples
        print(
            f"mean_reward: {stats['mean_reward']:.2f} +/- {stats['std_reward']:.2f} over {len(returns)} episodes "
            f"({mode}), mean_ep_length: {stats['mean_ep_length']:.1f}"
        )
    if lines is not None:
        print("\n".join(lines))
    else:
        extra = {k: v for k, v in stats.items() if k not in ("mean_reward", "std_reward", "mean_ep_length")}
        for key, value in extra.items():
            print(f"{key}: {value:.4f}")
    if args.json:
        print(json.dumps({"num_timesteps": agent.num_timesteps, **stats}))
    return 0


def eval_anomaly(agent, run_dir: Path | None, as_json: bool) -> int:
    """``gymlab eval RUN --anomaly``: a reconstruction run trained on some classes scores every
    test example by its reconstruction error; the other classes are the anomalies (ROC-AUC)."""
    from agents.logger import RunLogger
    from supervised.anomaly import anomaly_figures
    from supervised.registry import get_task, parse_classes

    task = getattr(agent, "task", None)
    if task is None or not get_task(task).kind.target_is_input:
        raise ValueError(
            "--anomaly needs a reconstruction run, e.g. gymlab train supervised gymlab/DigitsReconstruction-v0 "
            "--set net=autoencoder --env-kwargs classes=0,1,2,3,4"
        )
    classes = parse_classes(agent.env_kwargs.get("classes"))
    if classes is None:
        raise ValueError(
            "--anomaly needs a run trained on some classes only (train it with --env-kwargs classes=0,1,...)"
        )
    figures = anomaly_figures(agent.model, task, classes, "test")
    normal = ",".join(map(str, classes))
    print(f"anomaly: test split of {task}; normal = classes {normal} ({figures['n_normal']:.0f} examples), "
          f"anomalies = the other classes ({figures['n_anomaly']:.0f}); score = reconstruction error (MSE)")  # fmt: skip
    print(f"roc_auc: {figures['roc_auc']:.4f}")
    print(f"mean error: normal {figures['error_normal']:.5f}, anomalies {figures['error_anomaly']:.5f}")
    if run_dir is not None:
        logger = RunLogger(run_dir, start_step=0)
        logger.scalars({f"test/anomaly_{k}": v for k, v in figures.items()}, agent.num_timesteps)
        logger.close()
    if as_json:
        print(json.dumps({"num_timesteps": agent.num_timesteps, **figures}))
    return 0


def check_attack_args(args) -> None:
    """``--eps``, ``--proxy`` and ``--target`` go with ``--attack``; eps is a number >= 0; a
    target (a class index, next or random) goes with an attack, not with noise."""
    if args.attack is None:
        if args.eps is not None or args.proxy is not None or args.target is not None:
            raise ValueError("--eps, --proxy and --target set up an attack; add --attack fgsm|ifgsm|pgd|noise")
        return
    if args.target is not None:
        if args.attack == "noise":
            raise ValueError("--target goes with --attack fgsm|ifgsm|pgd; noise has no target")
        if args.target.lstrip("-").isdigit():
            args.target = int(args.target)
        elif args.target not in ("next", "random"):
            raise ValueError(f"--target must be a class index, next or random, got {args.target!r}")
    if args.eps is None:
        raise ValueError("--attack needs --eps E, the L-inf radius in the input's units (e.g. 0.2 for digits pixels)")
    if not 0 <= args.eps < float("inf"):
        raise ValueError(f"--eps must be a finite number >= 0, got {args.eps}")


def eval_under_attack(args, agent, run_dir) -> int:
    """``gymlab eval RUN --attack NAME --eps E [--proxy RUN2]``: the clean figures, then the same
    episodes with every observation attacked (gradients from RUN2's network when given)."""
    from agents import runs
    from agents.logger import RunLogger
    from agents.robustness import attackable_model, evaluate_under_attack

    attackable_model(agent)
    if args.target is not None and isinstance(args.target, int) and not 0 <= args.target < agent.action_space.n:
        raise ValueError(
            f"--target {args.target} is not a class of {agent.env_id}: choose 0..{agent.action_space.n - 1}"
        )
    proxy = None
    if args.proxy is not None:
        if not Path(args.proxy).is_dir():
            raise ValueError(f"--proxy {args.proxy} is not a run directory; pass one made by gymlab train")
        _, proxy = runs.load_run(args.proxy, args.device)
    print_split_and_reward(agent, "test")
    clean = agent.evaluate(args.episodes, args.deterministic, seed=args.seed)
    attacked = evaluate_under_attack(agent, args.attack, args.eps, proxy, args.episodes, args.seed, target=args.target)
    source = f"transfer from {args.proxy}" if proxy is not None else "white box"
    whose = "the proxy's" if proxy is not None else "the run's"
    goal = f"raises the loss of {whose} own greedy action"
    if args.target is not None:
        goal = f"lowers {whose} loss of the target: " + {
            "next": "its clean prediction + 1 mod K", "random": "a random class each step",
        }.get(args.target, f"class {args.target}")  # fmt: skip
    print(f"attack:      {args.attack}, eps {args.eps:g} (L-inf, {source}; {goal})")
    figure = "accuracy" if "accuracy" in clean else "mean_reward"
    print(f"clean:       {figure} {clean[figure]:.4f}")
    print(f"attacked:    {figure} {attacked[figure]:.4f} (mean_ep_length {attacked['mean_ep_length']:.1f})")
    if args.target is not None:
        print(f"targeted:    target_rate {attacked['target_rate']:.4f} (fraction of steps the target was taken)")
    if run_dir is not None:
        logger = RunLogger(run_dir, start_step=0)
        tag = f"attack/{args.attack}-eps{args.eps:g}" + ("-transfer" if proxy is not None else "")
        tag += f"-target-{args.target}" if args.target is not None else ""
        logger.scalars({f"{tag}/{k}": v for k, v in attacked.items()}, agent.num_timesteps)
        logger.close()
    if args.json:
        print(json.dumps({"num_timesteps": agent.num_timesteps, "attack": args.attack, "eps": args.eps,
                          "target": args.target, "clean": clean, "attacked": attacked}))  # fmt: skip
    return 0


def print_split_and_reward(player, split: str | None) -> None:
    """On a single-step env, say which split is played and what its reward means (eval: the
    test split; record, ``split`` None: the env's own). A GAN plays no split: its figures compare
    its samples with the training data, and each says so; nor do the learners of two domains, of
    a task sequence or of a task distribution, whose evaluation lines name their splits."""
    from agents.evaluation import describe_evaluation

    if not getattr(player, "plays_one_split", True):  # an SB3 model plays one split
        return
    line = describe_evaluation(player.env_id, player.env_kwargs, split)
    if line is not None:
        print(line)


def print_statistics_source(player) -> None:
    """Say which VecNormalize statistics an SB3 model plays with (a gymlab run keeps its own)."""
    stats = getattr(player, "vecnormalize", None)
    if stats is not None and stats.norm_obs:
        print(f"vecnormalize: {player.vecnormalize_path} (observations standardised with its statistics)")


def cmd_record(args) -> int:
    from agents.logger import RunLogger
    from gymlab import play

    agent, run_dir = play.load_player(args.run_dir, args.env, args.device, args.best, parse_env_kwargs(args.env_kwargs))
    print_statistics_source(agent)
    print_split_and_reward(agent, None)
    source = Path(args.run_dir)
    if args.out is not None:
        out = Path(args.out)
    else:  # a run's videos stay with the run; an SB3 model's go to ./videos
        out = Path("videos") if play.is_sb3_model(source) else source / "videos"
    name = play.video_name(agent, source, args.best)

    def started() -> None:
        print(f"recording {args.episodes} episode(s) of {agent.env_id} into {out}/", flush=True)

    def written(path: Path, episode_return: float, length: int) -> None:
        print(f"video: {path}  (return {episode_return:.2f}, {length} steps)", flush=True)

    _, stats, frames = play.record(
        agent, out, args.episodes, args.deterministic, seed=args.seed, prefix=name, on_video=written,
        network_view=args.network_view, on_start=started, max_steps=args.max_steps,
    )  # fmt: skip
    if len(frames) and run_dir is not None:
        logger = RunLogger(run_dir, start_step=0)
        logger.video("test/video", frames, agent.num_timesteps, fps=agent_fps(agent))
        logger.close()
    where = "; the first also in TensorBoard (IMAGES tab, test/video)" if run_dir is not None else ""
    print(f"mean_reward: {stats['mean_reward']:.2f} over {args.episodes} episodes{where}")
    return 0


def cmd_explain(args) -> int:
    from gymlab.explain import explain_run

    png, accuracy = explain_run(args.run_dir, args.method, args.n, args.out, args.device)
    shown = "" if accuracy is None else f" (predictions right: {accuracy:.0%})"
    print(f"explain:     {args.method} maps of {args.n} observations{shown}")
    print(f"wrote:       {png}; TensorBoard images under explain/{args.method} (gymlab board {args.run_dir})")
    return 0


def cmd_demos(args) -> int:
    from gymlab.play import record_expert_demos

    demos, path = record_expert_demos(
        args.expert, args.episodes, args.out, args.env, args.seed, args.device, args.deterministic, args.best,
        parse_env_kwargs(args.env_kwargs),
    )  # fmt: skip
    returns = demos.episode_returns()
    print(f"demos:         {path} ({demos.n_episodes} episodes, {len(demos)} steps of {demos.env_id})")
    print(f"expert return: {returns.mean():.2f} +/- {returns.std():.2f}")
    for agent in ("bc", "gail"):
        print(
            f"next:          gymlab train {agent} {demos.env_id} --set demos={path}{env_kwargs_flag(demos.env_kwargs)}"
        )
    return 0


def env_kwargs_flag(env_kwargs: dict) -> str:
    """`` --env-kwargs key=value ...`` that makes an env with ``env_kwargs`` ("" when there are none)."""
    from envs.make import env_kwargs_words

    return f" --env-kwargs {env_kwargs_words(env_kwargs)}" if env_kwargs else ""


def cmd_export(args) -> int:
    from gymlab.sb3 import export_run

    path, stats, agent = export_run(args.run_dir, args.out, args.best)
    algorithm = agent.name.upper()
    env_kwargs = env_kwargs_flag(agent.env_kwargs)
    print(f"sb3 model: {path} ({algorithm}, {agent.num_timesteps} steps on {agent.env_id})")
    if stats is not None:
        print(f"vecnormalize: {stats} (SB3's VecNormalize.load reads it; gymlab eval finds it beside the model)")
    print(f"next:      gymlab eval {path} --env {agent.env_id}{env_kwargs}  |  "
          f"python -c 'from stable_baselines3 import {algorithm}; {algorithm}.load(\"{path}\")'")  # fmt: skip
    return 0


def cmd_compress(args) -> int:
    from agents.compression import compress_run, size_lines

    agent = compress_run(
        args.run_dir, args.out, args.prune, args.structured, args.bits, args.clusters, args.finetune, args.device
    )
    stats = agent.evaluate(split="val")
    metric = next((k for k in ("accuracy", "mse") if k in stats), "mean_reward")
    print(f"run:         {args.out} (compressed from {args.run_dir})")
    print(
        f"val {metric + ':':<8} {stats[metric]:.4f}"
        + (f" after {args.finetune} fine-tuning steps" if args.finetune else "")
    )
    print("\n".join(size_lines(agent)))
    print(f"next:        gymlab eval {args.out}")
    return 0


def agent_fps(agent) -> int:
    """Frames per second the env asks for its videos."""
    import envs

    env = envs.make_env(agent.env_id, **agent.env_kwargs)
    fps = env.metadata.get("render_fps") or 30
    env.close()
    return int(fps)


def board_command(logdirs: list[str], port: int, host: str) -> list[str]:
    """The TensorBoard command line for some run directories (or a folder of runs): TensorBoard
    run through :func:`run_tensorboard`, which keeps its start-up notices off the terminal."""
    for d in logdirs:
        if not Path(d).exists():
            raise ValueError(f"{d} does not exist; train a run first (gymlab train ppo CartPole-v1)")
    cmd = [sys.executable, "-c", "from gymlab.cli import run_tensorboard; run_tensorboard()"]
    cmd += ["--port", str(port), "--host", host]
    if len(logdirs) == 1:
        cmd += ["--logdir", logdirs[0]]
    else:
        names = [f"{Path(d).name}:{d}" for d in logdirs]
        cmd += ["--logdir_spec", ",".join(names)]
    return cmd


# What TensorBoard writes at start-up that is not a problem here: it runs without TensorFlow
# (reduced features: none gymlab's logs need) and announces its fast loader.
BOARD_NOISE = (
    "TensorFlow installation not found",
    "NOTE: Using experimental fast data loading logic",
    '"--load_fast=false" and report issues on GitHub',
    "https://github.com/tensorflow/tensorboard/issues/4784",
)


class NoiseFilter:
    """A text stream that passes lines on to ``stream`` except those containing a ``noise`` phrase
    (and the blank lines that frame them)."""

    def __init__(self, stream, noise: tuple[str, ...] = BOARD_NOISE):
        self.stream, self.noise, self.pending = stream, noise, ""

    def write(self, text: str) -> int:
        """Buffer ``text``; pass on its complete lines that are not noise."""
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip() and not any(phrase in line for phrase in self.noise):
                self.stream.write(line + "\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        """Flush the stream underneath (a partial line waits for its end)."""
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def run_tensorboard() -> None:
    """TensorBoard's own main (arguments from ``sys.argv``), its notices filtered (``gymlab board``)."""
    sys.stderr = NoiseFilter(sys.stderr)
    sys.argv[0] = "tensorboard"
    from tensorboard.main import run_main

    run_main()


def cmd_board(args) -> int:
    cmd = board_command(args.run_dirs or ["runs"], args.port, args.host)
    print(f"TensorBoard on http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stdout.flush()
    # Become TensorBoard (no child left behind when this process is stopped).
    os.execv(cmd[0], cmd)
    return 0  # not reached


def cmd_sweep(args) -> int:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("gymlab sweep runs on Ray: pip install 'gymlab[sweep]'") from None
    from gymlab import sweep

    if args.resume:
        if args.agent or args.env_id:
            raise ValueError("give either AGENT ENV_ID or --resume SWEEP_DIR, not both")
        sweep_dir = Path(args.resume)
        summary = sweep.resume_sweep(sweep_dir, args.workers, args.address)
    else:
        if not (args.agent and args.env_id):
            raise ValueError(
                "sweep needs AGENT and ENV_ID (e.g. `gymlab sweep ppo CartPole-v1 --seeds 4`), or --resume DIR"
            )
        spec = sweep.SweepSpec(
            args.agent, args.env_id, args.seeds, sweep.parse_grid(args.grid), args.search, args.trials or 0,
            sweep.parse_space(args.space), args.steps, args.set, parse_env_kwargs(args.env_kwargs), args.eval_every,
            args.eval_episodes, args.final_episodes, args.device,
        )  # fmt: skip
        stamp = time.strftime("%Y%m%d-%H%M%S")
        sweep_dir = args.run_dir or Path("runs") / args.env_id.replace("/", "_") / f"sweep-{args.agent}-{stamp}"
        summary = sweep.run_sweep(spec, Path(sweep_dir), args.workers, args.address)
    print("\n".join(sweep.summary_lines(summary)))
    print(f"sweep:       {sweep_dir}  (summary.json, curves.png; runs under it)")
    print(f"next:        gymlab board {sweep_dir}")
    if summary["finished"] < summary["trials"]:
        unfinished = summary["trials"] - summary["finished"]
        why = f"{len(summary['errors'])} failed ({summary['errors'][0]})" if summary["errors"] else "interrupted"
        print(f"{unfinished} trials unfinished, {why}; finished trials are kept; continue with: "
              f"gymlab sweep --resume {sweep_dir}", file=sys.stderr)  # fmt: skip
        return 1 if summary["errors"] else 130
    return 0


def cmd_cv(args) -> int:
    """K-fold cross-validation of the supervised learner (agents.crossval): one run per fold, each
    scored on its held-out fold; the figures per fold, then the mean ± std."""
    from agents.crossval import cross_validate
    from agents.runs import default_run_dir
    from gymlab.config import parse_set

    run_dir = args.run_dir or default_run_dir(args.env_id, "supervised-cv", args.seed)
    result = cross_validate(
        args.env_id, args.folds, args.seed, run_dir, args.steps, fold_seed=args.fold_seed,
        env_kwargs=parse_env_kwargs(args.env_kwargs) or None, **parse_set(args.set),
    )  # fmt: skip
    for fold, (scores, run) in enumerate(zip(result.scores, result.runs)):
        extra = "".join(f"  {k} {scores[k]:.4f}" for k in ("f1_macro", "roc_auc") if k in scores)
        print(f"fold {fold}: {result.metric} {scores[result.metric]:.4f}{extra}  ({run})")
    print(result)
    return 0


def add_cv(sub) -> None:
    """The ``cv`` subcommand's parser."""
    cv = sub.add_parser("cv", help="K-fold cross-validation of the supervised learner (a run per fold)",
                        description="Train the supervised learner on K folds of ENV_ID's train split, each for a "
                        "fixed number of epochs, and score each on its held-out fold (stratified for "
                        "classification); prints the folds' scores and their mean ± std.")  # fmt: skip
    cv.add_argument("env_id", metavar="ENV_ID", help="a supervised env id, e.g. gymlab/Wine-v0")
    cv.add_argument("--folds", type=count, default=5, help="number of folds K (default 5)")
    cv.add_argument("--seed", type=count, default=0, help="seed of every fold's learner")
    cv.add_argument("--fold-seed", type=count, default=0, help="seed of the shuffle that deals rows into folds")
    cv.add_argument("--steps", type=count, help="examples per fold (default: the config's epochs)")
    cv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter")
    cv.add_argument("--run-dir", type=Path, metavar="DIR", help="where the folds' runs go (DIR/fold-<k>)")
    add_env_kwargs(cv)
    cv.set_defaults(func=cmd_cv)


def gym_entry_point(env_id: str) -> str:
    """The registered entry point of ``env_id`` as text."""
    import gymnasium as gym

    entry_point = gym.spec(env_id).entry_point
    return entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")


def cmd_list(args) -> int:
    import agents
    import envs
    from agents.presets import field_docs, fields, load_presets

    if args.keys:
        cls = agents.agent_class(args.keys)
        defaults = cls.Config()
        docs = field_docs(cls.Config)
        print(f"hyperparameters of {args.keys} (set with --set key=value):")
        for name in fields(cls.Config):
            print(f"  {name:<20} {str(getattr(defaults, name)):<12} {docs.get(name, '')}")
        return 0
    print("agents:")
    for name in agents.AGENTS:
        cls = agents.agent_class(name)
        spaces = ", ".join(s.__name__ for s in cls.action_spaces)
        print(f"  {name:<12} actions: {spaces}")
    print("presets (agent: envs with tuned hyperparameters):")
    for name, table in load_presets().items():
        print(f"  {name:<12} {', '.join(table)}")
    from supervised import TASKS

    print("gymlab tasks (env id, kind: data; `--env-kwargs family=NAME` for a task family):")
    for spec in TASKS.values():
        if spec.listed:
            families = f" [families: {', '.join(spec.families)}]" if spec.families else ""
            print(f"  {spec.env_id:<32} {spec.kind.name}: {spec.description}{families}")
    ids = envs.env_ids()
    atari = [i for i in ids if i.startswith("ALE/")]
    if atari:  # a hundred games: named once, not listed
        print(f"Atari games (ale-py, {len(atari)}): ALE/<Game>-v5, e.g. ALE/Breakout-v5, ALE/Pong-v5 "
              "(played through the standard preprocessing; the legacy v0/v4 ids are not listed)")  # fmt: skip
    ale = {i for i in ids if gym_entry_point(i).startswith("ale_py")}
    ids = [i for i in ids if i not in ale]
    missing = {i: pip for i in ids if (pip := envs.make.missing_dependency(i))}
    ids = [f"{i} (!)" if i in missing else i for i in ids]
    print(f"all registered envs ({len(ids)}):")
    line = "  "
    for env_id in ids:
        if len(line) + len(env_id) > 98:
            print(line.rstrip(", "))
            line = "  "
        line += env_id + ", "
    print(line.rstrip(", "))
    for pip in sorted(set(missing.values())):
        print(f"(!) cannot run here: {pip}")
    print("hyperparameters of an agent: gymlab list --keys AGENT")
    return 0


def lecture_seeds_map(args, lecture):
    """With ``--seeds N`` (N > 1) and Ray installed, a lecture's seeds run as Ray tasks through the
    sweep machinery, ``--workers`` at a time; otherwise (or for a lecture registered in this
    session only, which a Ray worker cannot find) one after another in this process."""
    if not args.seeds or args.seeds < 2 or not lecture.experiment.__module__.startswith("lectures."):
        return None
    try:
        import ray  # noqa: F401
    except ImportError:
        return None
    import functools

    from gymlab.sweep import ray_map

    return functools.partial(ray_map, workers=args.workers)


def cmd_lecture(args) -> int:
    from lectures import discover, get_lecture, run_lecture

    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1 (seeds 0 .. N-1), got {args.seeds}")
    if args.name == "list":
        width = max(len(name) for name in discover()) + 1
        for lecture in discover().values():
            print(f"{lecture.name:<{width}} {lecture.homework}")
            print(f"{'':<{width}} {lecture.claim}")
        print("run one: gymlab lecture NAME --quick  |  all of them: gymlab lecture all --quick")
        return 0
    chosen = list(discover().values()) if args.name == "all" else [get_lecture(args.name)]
    held = []
    for lecture in chosen:
        out = None if args.out is None else (args.out / lecture.name if args.name == "all" else args.out)
        print(f"lecture:   {lecture.name} ({lecture.homework})")
        print(f"claim:     {lecture.claim}", flush=True)
        result = run_lecture(
            lecture, quick=args.quick, seeds=args.seeds, out=out, map_seeds=lecture_seeds_map(args, lecture)
        )
        print(f"figures (mean ± std over {result.seeds} seeds):")
        print("  " + result.table.text().replace("\n", "\n  "))
        print(f"condition: {lecture.condition_text}")
        print(f"held:      {'yes' if result.held else 'NO'} ({result.seconds:.1f} s)")
        print(f"wrote:     {result.out}/result.json, lecture.png, TensorBoard events (gymlab board {result.out})")
        if result.runs:
            print(f"runs:      {len(result.runs)} run directories (gymlab eval / record / board work on each)")
        print()
        held.append((lecture.name, result.held))
    if len(held) > 1:
        print(f"claims held: {sum(h for _, h in held)} of {len(held)}" + "".join(
            f"; {name} did not hold" for name, h in held if not h))  # fmt: skip
    return 0


ENV_KWARGS_HELP = "keyword arguments for the env's constructor, e.g. continuous=true enable_wind=true (repeatable)"
PLAY_ENV_KWARGS_HELP = "env constructor arguments for a .zip, or changes to a run's own (e.g. enable_wind=true)"


def add_env_kwargs(parser: argparse.ArgumentParser, helptext: str = ENV_KWARGS_HELP) -> None:
    """The ``--env-kwargs KEY=VALUE ...`` option (rl-baselines3-zoo's), on ``parser``."""
    parser.add_argument("--env-kwargs", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help=helptext)


def add_compress_parser(sub) -> None:
    """``gymlab compress RUN_DIR --prune F [--structured] --bits B --clusters K [--finetune STEPS] --out DIR``."""
    c = sub.add_parser("compress", help="prune, quantise and/or cluster a trained run's weights into a new run",
                       description="Compress the run at RUN_DIR (HW13): magnitude pruning (optionally fine-tuned "
                       "with the pruned weights held at 0), then uniform quantisation and/or weight clustering. "
                       "Writes a run directory that gymlab eval (accuracy and size in bytes) and gymlab.load take.")  # fmt: skip
    c.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by gymlab train")
    c.add_argument("--out", type=Path, required=True, metavar="DIR", help="the compressed run to write")
    c.add_argument("--prune", type=float, default=0.0, metavar="F",
                   help="fraction of the weights removed by magnitude (of each layer's units with --structured), in [0, 1)")  # fmt: skip
    c.add_argument("--structured", action="store_true", help="prune whole units (rows, filters) by L2 norm")
    c.add_argument("--bits", type=int, default=32, help="bits per kept weight, 2..16 (default 32: float32)")
    c.add_argument("--clusters", type=count, default=0, metavar="K",
                   help="weight sharing: K k-means centroids per weight tensor (default 0: none)")  # fmt: skip
    c.add_argument("--finetune", type=count, default=0, metavar="STEPS",
                   help="train STEPS more environment steps (examples) after pruning (default 0)")  # fmt: skip
    c.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
    c.set_defaults(func=cmd_compress)


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = Parser(prog="gymlab", description="Train agents on Gymnasium envs, record them, evaluate them in TensorBoard.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train an agent; writes a run directory", description="Train AGENT on ENV_ID.")
    t.add_argument("agent", nargs="?", metavar="AGENT", help="ppo, a2c, reinforce, ... (`gymlab list`)")
    t.add_argument("env_id", nargs="?", metavar="ENV_ID", help="a gymnasium id, e.g. CartPole-v1")
    t.add_argument("--steps", type=count, help="environment steps to train for (default: the preset's)")
    t.add_argument("--seed", type=int, help="seeds envs, spaces, numpy and torch (default 0)")
    t.add_argument("--n-envs", type=count, help="parallel environments (default: the preset's)")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA when present")
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter (repeatable)"
    )
    add_env_kwargs(t)
    t.add_argument("--eval-every", type=count, metavar="STEPS",
                   help="evaluate every STEPS steps on a separate env; logs eval/*, keeps checkpoints/best.pt")  # fmt: skip
    t.add_argument("--eval-episodes", type=count, metavar="N", help="episodes per periodic evaluation (default 5)")
    t.add_argument("--video", action="store_true", help="record mp4s of some training episodes into RUN_DIR/videos")
    t.add_argument("--run-dir", type=Path, help="where to write the run (default runs/<env>/<agent>-s<seed>-<time>)")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    t.add_argument("--init-from", type=Path, metavar="RUN_DIR|MODEL.zip",
                   help="start a new run from the weights of a run or an SB3 PPO/A2C model (optimizer afresh)")  # fmt: skip
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    for name, fn, helptext in (
        ("eval", cmd_eval, "evaluate a trained run: mean +/- std return"),
        ("record", cmd_record, "record mp4 videos of a trained run"),
    ):
        e = sub.add_parser(name, help=helptext, description=helptext)
        e.add_argument("run_dir", metavar="RUN_DIR",
                       help="a directory made by gymlab train, or a Stable-Baselines3 model .zip (with --env)")  # fmt: skip
        e.add_argument("--env", metavar="ENV_ID", help="the env of a Stable-Baselines3 .zip (which does not record it)")
        add_env_kwargs(e, PLAY_ENV_KWARGS_HELP)
        e.add_argument("--episodes", type=count, default=10 if name == "eval" else 1, help="episodes to play")
        e.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                       help="most likely action (default) or --no-deterministic to sample")  # fmt: skip
        e.add_argument("--stochastic", dest="deterministic", action="store_false", help="sample actions")
        e.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
        e.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
        e.add_argument("--best", action="store_true",
                       help="the best periodic evaluation's weights (train --eval-every) instead of the newest")  # fmt: skip
        if name == "eval":
            e.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
            e.add_argument("--anomaly", action="store_true",
                           help="a reconstruction run trained on some classes: ROC-AUC of its reconstruction errors "
                           "for the other classes (anomalies) on the test split")  # fmt: skip
            e.add_argument("--attack", choices=["fgsm", "ifgsm", "pgd", "noise"],
                           help="perturb every observation adversarially (noise: the random baseline)")  # fmt: skip
            e.add_argument("--eps", type=float, help="with --attack: L-inf radius in the input's units")
            e.add_argument(
                "--proxy", metavar="RUN_DIR", help="with --attack: take the gradients from this run (transfer)"
            )
            e.add_argument("--target", metavar="CLASS",
                           help="with --attack: a targeted attack toward this class index, next (the clean "
                           "prediction + 1 mod K) or random (any class, drawn each time)")  # fmt: skip
        else:
            e.add_argument("--out", help="folder for the mp4 files (default: RUN_DIR/videos; ./videos for a .zip)")
            e.add_argument("--network-view", action="store_true",
                           help="pixel games: what the network sees (its newest input frame) beside the game")  # fmt: skip
            e.add_argument("--max-steps", type=positive, metavar="N",
                           help="cut each episode after N steps (default: the env's own time limit; an "
                                "untrained Atari policy can play 27,000)")  # fmt: skip
        e.set_defaults(func=fn)

    xp = sub.add_parser("explain", help="attribution maps of a trained run's predictions (HW9)",
                        description="Explain a run's predictions: each input beside its attribution map "
                        "(saliency, SmoothGrad or integrated gradients), as a PNG and TensorBoard images.")  # fmt: skip
    xp.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (a classifier or a discrete-action policy)")
    xp.add_argument("--method", choices=["saliency", "smoothgrad", "ig"], default="saliency", help="default saliency")
    xp.add_argument("--n", type=count, default=16, help="observations to explain (default 16)")
    xp.add_argument("--out", help="the PNG to write (default RUN_DIR/explain-METHOD.png)")
    xp.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
    xp.set_defaults(func=cmd_explain)

    d = sub.add_parser("demos", help="record expert demonstrations for bc / gail",
                       description="Record the expert at RUN_DIR (a gymlab run or an SB3 .zip) playing whole episodes into an .npz file.")  # fmt: skip
    d.add_argument("expert", metavar="RUN_DIR", help="a gymlab run directory, or a Stable-Baselines3 model .zip")
    d.add_argument("--episodes", type=count, default=10, help="episodes to record (default 10)")
    d.add_argument("--out", required=True, help="the .npz file to write")
    d.add_argument("--env", metavar="ENV_ID", help="env to play (required for SB3 .zip models, which do not record it)")
    add_env_kwargs(d, PLAY_ENV_KWARGS_HELP)
    d.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    d.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                   help="the expert's most likely action (default) or --no-deterministic to sample")  # fmt: skip
    d.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
    d.add_argument("--best", action="store_true", help="a gymlab run's best model (train --eval-every) as the expert")
    d.set_defaults(func=cmd_demos)

    x = sub.add_parser("export", help="write a PPO or A2C run as a Stable-Baselines3 model .zip",
                       description="Write the PPO or A2C run at RUN_DIR as a Stable-Baselines3 model file, which "
                       "PPO.load / A2C.load read and gymlab eval/record play.")  # fmt: skip
    x.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by gymlab train (ppo or a2c)")
    x.add_argument("out", metavar="OUT.zip", help="the model file to write")
    x.add_argument("--best", action="store_true", help="the run's best model (train --eval-every)")
    x.set_defaults(func=cmd_export)

    add_compress_parser(sub)

    b = sub.add_parser("board", help="start TensorBoard on runs", description="Start TensorBoard.")
    b.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="runs to show (default: runs/)")
    b.add_argument("--port", type=int, default=6006)
    b.add_argument("--host", default="127.0.0.1")
    b.set_defaults(func=cmd_board)

    w = sub.add_parser("sweep", help="many seeds, a grid or a search, as Ray Tune trials",
                       description="Run AGENT on ENV_ID over seeds, a grid or a search (Ray Tune); every trial is a "
                       "run directory; prints mean, median and IQM with 95%% bootstrap intervals.")  # fmt: skip
    w.add_argument("agent", nargs="?", metavar="AGENT", help="ppo, a2c, reinforce, ... (`gymlab list`)")
    w.add_argument("env_id", nargs="?", metavar="ENV_ID", help="a gymnasium id, e.g. CartPole-v1")
    w.add_argument("--seeds", type=count, default=1, help="seeds 0..N-1 of every configuration (default 1)")
    w.add_argument("--grid", nargs="+", action="extend", default=[], metavar="KEY=V1,V2",
                   help="grid search: every combination is a configuration")  # fmt: skip
    w.add_argument("--search", choices=["random", "tpe"], help="draw --trials configurations from --space")
    w.add_argument("--trials", type=count, help="configurations the search draws")
    w.add_argument("--space", nargs="+", action="extend", default=[], metavar="KEY=LO:HI[:log]",
                   help="the search's range of a hyperparameter")  # fmt: skip
    w.add_argument("--steps", type=count, help="environment steps per trial (default: the preset's)")
    w.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fixed for every trial")
    add_env_kwargs(w)
    w.add_argument("--eval-every", type=count, metavar="STEPS", help="periodic evaluation in every trial")
    w.add_argument("--eval-episodes", type=count, metavar="N", help="episodes per periodic evaluation")
    w.add_argument("--final-episodes", type=count, default=10, metavar="N",
                   help="episodes of each trial's final evaluation, its score (default 10)")  # fmt: skip
    w.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
    w.add_argument("--run-dir", type=Path, help="the sweep's folder (default runs/<env>/sweep-<agent>-<time>)")
    w.add_argument("--workers", type=count, help="trials at once on this machine (default: its cores)")
    w.add_argument("--address", metavar="HOST:PORT", help="join a running Ray cluster instead")
    w.add_argument("--resume", type=Path, metavar="SWEEP_DIR", help="continue a stopped sweep")
    w.set_defaults(func=cmd_sweep)

    ls = sub.add_parser("list", help="agents, presets and registered envs", description="List what gymlab offers.")
    ls.add_argument("--keys", metavar="AGENT", help="list AGENT's hyperparameters with defaults")
    ls.set_defaults(func=cmd_list)

    lec = sub.add_parser("lecture", help="run a lecture's claim as an experiment",
                         description="Run a lecture of the course: its claim, a table of figures per arm over seeds, "
                         "whether the claim held; writes result.json, a plot and TensorBoard events.")  # fmt: skip
    lec.add_argument("name", metavar="NAME", help="a lecture (`gymlab lecture list`), `list`, or `all`")
    lec.add_argument("--quick", action="store_true", help="the short settings (under a minute per lecture)")
    lec.add_argument("--seeds", type=count,
                     help="run seeds 0 .. N-1 (default 3 with --quick, 5 without); with N given, as Ray tasks")  # fmt: skip
    lec.add_argument("--workers", type=count, help="with --seeds: seeds at once on this machine (default: its cores)")
    lec.add_argument("--out", type=Path, metavar="DIR",
                     help="where to write (default runs/lectures/NAME-<time>; with `all`, DIR/NAME each)")  # fmt: skip
    lec.set_defaults(func=cmd_lecture)

    add_cv(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input ends with one line on stderr and exit code 2 (GYMLAB_DEBUG=1 shows
    the traceback); Ctrl-C in training saves a checkpoint and exits 130."""
    args = parser().parse_args(argv)
    # Rendering is headless: no window, no sound device, no desktop session needed.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    from agents.runs import RunError

    try:
        return args.func(args)
    except (ValueError, RunError) as e:
        if os.environ.get("GYMLAB_DEBUG"):
            raise
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"gymlab {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `gymlab list | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as e:
        from agents.training import Interrupted

        if isinstance(e, Interrupted):
            print(
                f"\ninterrupted at step {e.step}; checkpoint {e.checkpoint} "
                f"(continue with: gymlab train --resume {e.run_dir})",
                file=sys.stderr,
            )
        else:
            print("\ninterrupted before training started; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""CNNPolicy throughput: the population in one grouped convolution vs a Python loop over individuals.

    flock /tmp/bench.lock nice -n 0 python benchmarks/cnn_throughput.py [--pop 64] [--device cpu]

For each seed preset it times ``policy.act`` on a batch of ``pop`` random CarRacing frames (uint8, 96×96×3):

- ``batched``: one call for the whole population (grouped conv + batched GEMMs);
- ``loop``: one ``torch.nn`` network per individual (the seed's way), called ``pop`` times.

Both are timed inside this one process, interleaved, so the printed ratio is meaningful on a noisy machine
even when the absolute figures are not. Prints individual-steps per second and the speed-up.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from metarl_gym.agents import CNNPolicy

OBS = gym.spaces.Box(0, 255, (96, 96, 3), np.uint8)
ACT = gym.spaces.Box(np.array([-1, 0, 0], np.float32), np.array([1, 1, 1], np.float32))


def nn_reference(preset: str) -> nn.Module:
    """The seed network as a torch.nn module whose parameter order matches the genome."""
    if preset == "ga_carracing":
        return nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 3), nn.Flatten(),
                             nn.Linear(12288, 64), nn.ReLU(), nn.Linear(64, 3))
    return nn.Sequential(nn.AdaptiveAvgPool2d((84, 84)), nn.Conv2d(3, 6, 3, bias=False), nn.Tanh(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 5, stride=2, bias=False), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(648, 128, bias=False), nn.Tanh(), nn.Linear(128, 64, bias=False), nn.Tanh(),
                         nn.Linear(64, 3, bias=False))


def time_it(fn, device, repeats: int) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pop", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    obs = torch.randint(0, 256, (args.pop, 96, 96, 3), dtype=torch.uint8, device=device)
    print(f"pop {args.pop}, device {device}, {args.threads} thread(s), {args.repeats} repeats, ratios measured in one process")
    for preset in ("ga_carracing", "hebbian_carracing"):
        policy = CNNPolicy(OBS, ACT, preset=preset)
        params = policy.random_params(args.pop, generator=torch.Generator().manual_seed(0)).to(device)
        state = policy.initial_state(params)
        nets = []
        for i in range(args.pop):
            net = nn_reference(preset).to(device)
            nn.utils.vector_to_parameters(params[i], net.parameters())
            nets.append(net)
        frames = obs.permute(0, 3, 1, 2).float() / 255

        def batched():
            policy.act(params, obs, state)

        def loop():
            for i, net in enumerate(nets):
                net(frames[i : i + 1])

        t_batched, t_loop = [], []
        for _ in range(2):  # interleaved, so drifting machine load hits both alike
            t_batched.append(time_it(batched, device, args.repeats))
            t_loop.append(time_it(loop, device, args.repeats))
        tb, tl = min(t_batched), min(t_loop)
        print(f"{preset:18s} {policy.num_params:>8,d} params  batched {args.pop / tb:9.0f} ind-steps/s  "
              f"loop {args.pop / tl:9.0f} ind-steps/s  speed-up x{tl / tb:.2f}")


if __name__ == "__main__":
    main()

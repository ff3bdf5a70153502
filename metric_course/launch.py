"""Starting and joining a group of processes: init_distributed, launch_local (notebook 07).

:func:`init_distributed` joins the process group that torchrun
(``torch.distributed.run``) set up, from the environment variables it
gives every process (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).

:func:`launch_local` is a small torchrun of our own: it starts N processes
on this machine, joins them on a free port of 127.0.0.1 and returns the
result of a function from each. It is made for tests and notebooks, where
the caller wants the results back as Python objects within a time limit.
Use **torchrun instead** for anything else: training runs, several GPUs
(``--nproc_per_node``), several machines (``--nnodes``, ``--rdzv_endpoint``),
restarts after a failure (``--max-restarts``), or output per process;
torchrun starts a script or module, not a function, and returns nothing.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

LAUNCH_HINT = "start the processes with torchrun (see `python -m metric_course.distributed -h`)"
FREE_PORT_HINT = (
    'pick another: set MASTER_PORT to a free port (`python -c "from metric_course.launch '
    'import free_port; print(free_port())"`), or give torchrun --master_port PORT '
    "(--rdzv_endpoint HOST:PORT)"
)
# How much longer than its own timeout joining may take before it counts as stuck: PyTorch
# raises its timeout errors at about ``timeout_seconds``, and they say more than ours.
JOIN_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is: its rank among ``world_size`` processes, and its device."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device


def _environment_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the environment variable {name}={value!r} is not an integer") from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_distributed(backend: str = "auto", timeout_seconds: float = 120.0) -> DistributedContext:
    """Join the process group torchrun set up, and pick this process's device (notebook 07).

    ``backend`` is "nccl" (CUDA GPUs, one per process), "gloo" (CPUs) or
    "auto" (nccl where CUDA is available, else gloo). Without torchrun's
    environment variables this process becomes a group of one. Joining and
    every later collective wait at most ``timeout_seconds``: a process that
    died or never started, or a port held by another program, ends the run
    with an error that says so instead of a hang.
    """
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl', 'gloo' or 'auto', got {backend!r}")
    rank = _environment_int("RANK", 0)
    world_size = _environment_int("WORLD_SIZE", 1)
    local_rank = _environment_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"RANK={rank} does not fit WORLD_SIZE={world_size}: ranks run from 0 to "
            f"WORLD_SIZE - 1; {LAUNCH_HINT} instead of setting them by hand"
        )
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"backend 'nccl' needs a CUDA GPU in every process, but process {rank} sees "
                "none; use --backend gloo for CPU processes, or run on GPU machines"
            )
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"process {rank} has LOCAL_RANK={local_rank} and needs GPU {local_rank}, but "
                f"this machine has {torch.cuda.device_count()} GPU(s); start at most that many "
                "processes per machine (torchrun --nproc_per_node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if "MASTER_ADDR" in os.environ:
        address = f"{os.environ['MASTER_ADDR']}:{os.environ.get('MASTER_PORT', '29500')}"
    elif world_size == 1:  # not started by torchrun: a group of one
        address = f"127.0.0.1:{free_port()}"
    else:
        raise RuntimeError(f"WORLD_SIZE={world_size} but no MASTER_ADDR; {LAUNCH_HINT}")
    # PyTorch's Windows builds have no libuv, and some (2.4) still ask for it in the TCP store.
    options = "?use_libuv=0" if os.name == "nt" else ""
    try:
        _join_within(
            timeout_seconds + JOIN_GRACE_SECONDS,
            device,
            backend,
            init_method=f"tcp://{address}{options}",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=timeout_seconds),
        )
    except TimeoutError as error:
        raise TimeoutError(
            f"process {rank} of {world_size} reached {address} but got no answer from "
            f"PyTorch's rendezvous within {timeout_seconds:g} s: another program may hold that "
            f"port, or process 0 is stuck; {FREE_PORT_HINT}"
        ) from error
    except (RuntimeError, ValueError) as error:
        if "EADDRINUSE" in str(error) or "address already in use" in str(error).lower():
            raise RuntimeError(
                f"process {rank} could not open the rendezvous at {address}: the port is taken "
                f"by another program (an earlier run still alive?); {FREE_PORT_HINT}. "
                f"Cause: {error}"
            ) from error
        raise RuntimeError(
            f"process {rank} of {world_size} could not join the group at {address} within "
            f"{timeout_seconds:g} s: not all {world_size} processes started, or they disagree "
            "on the world size (check --nnodes × --nproc_per_node) or on the address "
            f"(--rdzv_endpoint). Cause: {error}"
        ) from error
    return DistributedContext(rank, world_size, local_rank, backend, device)


def _join_within(seconds: float, device: torch.device, *args: Any, **kwargs: Any) -> None:
    """``dist.init_process_group(*args, **kwargs)``, or a TimeoutError after ``seconds``.

    PyTorch's TCP store waits without a limit for an answer from a socket that
    accepted the connection (a port held by some other program), whatever its
    timeout says. Joining runs in a thread of its own, so the wait can end:
    the thread, stuck in that read, is left behind (a daemon, gone at exit).
    """
    outcome: list[BaseException | None] = []

    def join() -> None:
        try:
            if device.type == "cuda":
                torch.cuda.set_device(device)  # the current GPU is per thread
            dist.init_process_group(*args, **kwargs)
            outcome.append(None)
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    thread = threading.Thread(target=join, name="join process group", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise TimeoutError(f"joining the process group took over {seconds:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def _run_in_group(
    index: int,
    fn: Callable[..., Any],
    world_size: int,
    port: int,
    backend: str,
    timeout_seconds: float,
    results: Any,
    args: tuple,
) -> None:
    """Body of each process started by :func:`launch_local` (like a torchrun worker).

    Puts ``(rank, True, pickled result)`` or, on an error, ``(rank, False,
    traceback)`` in ``results``: errors arrive in the order they happened, so
    the first one is the cause and later ones are usually its consequences.
    The result is pickled here into plain bytes: a tensor sent as it is would
    travel as a handle to this process's shared memory, gone once it exits.
    """
    os.environ.update(
        RANK=str(index),
        LOCAL_RANK=str(index),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    try:
        context = init_distributed(backend, timeout_seconds)
        result = pickle.dumps(fn(context, *args))
        dist.barrier()  # no process tears the group down while another still uses it
        results.put((index, True, result))
    except BaseException:
        results.put((index, False, traceback.format_exc()))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch_local(
    fn: Callable[..., Any],
    world_size: int,
    *args: Any,
    backend: str = "gloo",
    timeout_seconds: float = 60.0,
) -> list[Any]:
    """``fn(context, *args)`` in ``world_size`` new processes here; their results (notebook 07).

    A small torchrun for tests and notebooks: processes are spawned, join a
    group on a free port of 127.0.0.1, and return ``fn``'s results in rank
    order. ``fn`` must be importable (defined in a module, not a notebook);
    its results travel pickled, so tensors of any size come back.
    If a process fails, the others are stopped and the error names it; if
    they have not all finished after ``timeout_seconds``, all are stopped and
    a ``TimeoutError`` is raised: never a hang.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    spawn = mp.get_context("spawn")
    results = spawn.SimpleQueue()
    context = mp.start_processes(
        _run_in_group,
        args=(fn, world_size, free_port(), backend, timeout_seconds, results, args),
        nprocs=world_size,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + timeout_seconds
    received = []
    try:
        while not context.join(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            received += _drain(results)  # a large result waits in the pipe until it is read
            if time.monotonic() >= deadline:
                running = ", ".join(str(r) for r, p in enumerate(context.processes) if p.is_alive())
                raise TimeoutError(
                    f"the processes of rank {running} (of {world_size}) did not finish within "
                    f"{timeout_seconds:g} s; probably stuck, or waiting for a process that died. "
                    "All were stopped."
                )
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as error:
        received += _drain(results)
        errors = [f"process {rank}: {text}" for rank, ok, text in received if not ok]
        raise RuntimeError(
            "a process of launch_local failed; the errors in the order they happened (the "
            "first is the cause, later ones usually follow from it):\n"
            + ("\n".join(errors) or str(error))
        ) from None
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
                process.join()
    collected = {rank: pickle.loads(value) for rank, _, value in received + _drain(results)}
    return [collected[rank] for rank in range(world_size)]


def _drain(queue: Any) -> list[Any]:
    """Everything waiting in a multiprocessing queue, without blocking."""
    items = []
    while not queue.empty():
        items.append(queue.get())
    return items

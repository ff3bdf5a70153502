"""Starting and joining process groups: launch_local's errors and timeouts, init_distributed's.

Processes are real (spawned on 127.0.0.1); a port "held by another program"
is a socket of this test on 127.0.0.1 that accepts connections and never
answers. Every wait is bounded, so a broken test fails instead of hanging.
"""

import os
import socket
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist

from metric_course import launch
from metric_course.launch import init_distributed, launch_local

WORLD_SIZE = 2


def _fails_on_rank_one(context):
    if context.rank == 1:
        raise ArithmeticError("rank one broke on purpose")
    dist.barrier()  # rank 0 waits for rank 1, which never comes


def _sleeps(context):
    time.sleep(60)


def test_a_failing_process_ends_the_run_with_its_error_first():
    with pytest.raises(RuntimeError) as failure:
        launch_local(_fails_on_rank_one, WORLD_SIZE, timeout_seconds=120)
    message = str(failure.value)
    cause = message.index("process 1: Traceback")
    assert "ArithmeticError: rank one broke on purpose" in message[cause:]
    assert "process 0:" not in message[:cause]  # rank 0's error, if reported, comes after


def test_a_stuck_process_ends_the_run_with_a_timeout():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not finish within"):
        launch_local(_sleeps, 1, timeout_seconds=8)
    assert time.monotonic() - start < 40


def test_a_missing_process_ends_init_with_a_clear_error(monkeypatch):
    port = launch.free_port()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    with pytest.raises(RuntimeError, match=r"could not join the group .* --nproc_per_node"):
        init_distributed("gloo", timeout_seconds=1)
    assert not dist.is_initialized()


def test_bad_launch_settings_are_explained(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="RANK=2 does not fit WORLD_SIZE=2"):
        init_distributed("gloo")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="backend must be"):
        init_distributed("mpi")
    with pytest.raises(ValueError, match="world_size must be at least 1"):
        launch_local(_sleeps, 0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_nccl_without_a_gpu_says_to_use_gloo(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(RuntimeError, match=r"needs a CUDA GPU .* --backend gloo"):
        init_distributed("nccl")


@pytest.mark.parametrize(("os_name", "options"), [("nt", "?use_libuv=0"), ("posix", "")])
def test_windows_rendezvous_asks_for_no_libuv(monkeypatch, os_name, options):
    """PyTorch's Windows builds lack libuv: their TCP rendezvous must say use_libuv=0."""
    asked = {}

    def init_process_group(backend, init_method, **kwargs):
        asked["init_method"] = init_method

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29512")
    # Only the module's view of the platform changes (a global os.name = "nt" breaks pathlib).
    monkeypatch.setattr(launch, "os", SimpleNamespace(name=os_name, environ=os.environ))
    monkeypatch.setattr(launch.dist, "init_process_group", init_process_group)
    init_distributed("gloo")
    assert asked["init_method"] == f"tcp://127.0.0.1:29512{options}"


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 held by a listener that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_port_held_by_a_silent_program_ends_a_worker_within_its_timeout(silent_port):
    """Rank 1 connects, gets no answer: PyTorch alone waits forever, whatever its timeout."""
    script = textwrap.dedent(
        f"""
        import os
        os.environ.update(RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT="{silent_port}")
        from metric_course.launch import init_distributed
        init_distributed("gloo", timeout_seconds=3)
        """
    )
    start = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert time.monotonic() - start < 40
    assert finished.returncode != 0
    error = finished.stderr.strip().splitlines()[-1]
    assert error.startswith("TimeoutError: process 1 of 2 reached 127.0.0.1:")
    assert "no answer from PyTorch's rendezvous within 3 s" in error
    assert "another program may hold that port" in error and "MASTER_PORT" in error


def test_a_taken_port_is_named_as_the_cause_on_rank_0(monkeypatch, silent_port):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(silent_port))
    start = time.monotonic()
    with pytest.raises(RuntimeError) as failure:
        init_distributed("gloo", timeout_seconds=30)
    assert time.monotonic() - start < 10  # at once, not after the timeout
    message = str(failure.value)
    assert f"rendezvous at 127.0.0.1:{silent_port}: the port is taken by another program" in message
    assert "set MASTER_PORT to a free port" in message and "free_port()" in message
    assert "not all 2 processes started" not in message
    assert not dist.is_initialized()

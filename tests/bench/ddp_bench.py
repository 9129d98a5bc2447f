"""PyTorch DistributedDataParallel reference for make bench's data-parallel
part (data_bench.py).

The same 784-1024-1024-10 MLP as torch_bench.py (nn.Linear, ReLU, softmax
inside CrossEntropyLoss), SGD lr 0.01 momentum 0.9, a global batch of BATCH
(128) split evenly over WORLD processes, on random samples. The processes talk
through the gloo backend on 127.0.0.1; process r is pinned to core
r % cores and runs one thread. Every process runs the same number of
steps (DDP's all-reduces pair them up); rank 0 times STEPS steps after
WARMUP and prints "key=value" lines.

usage: ddp_bench.py WORLD [STEPS] [WARMUP] [BATCH]
       ddp_bench.py --rank R WORLD STEPS WARMUP PORT BATCH   (one process)

Set OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1 and
OMP_WAIT_POLICY=PASSIVE in the environment: Debian's torch runs nn.Linear
on the system OpenBLAS, which reads them when it loads.
"""
import os
import socket
import subprocess
import sys
import time

INPUTS, HIDDEN, CLASSES = 784, 1024, 10
ROWS = 16384


def worker(rank, world, steps, warmup, port, batch):
    """One DDP process: trains, and rank 0 prints the rate."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.sched_setaffinity(0, {rank % os.cpu_count()})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, CLASSES))
    ddp = DDP(model)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    # Each process holds its own shard, as nnsim's partitions do.
    g = torch.Generator().manual_seed(1 + rank)
    rows = max(ROWS, 4 * batch) // world
    x = torch.randn(rows, INPUTS, generator=g)
    y = torch.randint(0, CLASSES, (rows,), generator=g)
    per = batch // world
    state = {"order": torch.randperm(rows, generator=g), "cursor": 0}

    def step():
        c = state["cursor"]
        if c + per > rows:
            state["order"] = torch.randperm(rows, generator=g)
            c = 0
        idx = state["order"][c:c + per]
        state["cursor"] = c + per
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(ddp(x.index_select(0, idx)), y.index_select(0, idx))
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    dist.barrier()
    elapsed = time.perf_counter() - t0
    if rank == 0:
        print("mode=torch_ddp")
        print("torch_version=%s" % torch.__version__)
        print("backend=gloo")
        print("world=%d" % world)
        print("threads=%d" % torch.get_num_threads())
        print("steps=%d" % steps)
        print("seconds=%.3f" % elapsed)
        print("samples_per_sec=%.1f" % (steps * per * world / elapsed))
        print("last_loss=%.4f" % float(loss))
    dist.destroy_process_group()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    if sys.argv[1:2] == ["--rank"]:
        rank, world, steps, warmup, port, batch = map(int, sys.argv[2:8])
        worker(rank, world, steps, warmup, port, batch)
        return 0
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    if world < 1 or batch < 1 or batch % world != 0:
        print(f"ddp_bench: world {world} must divide batch {batch}",
              file=sys.stderr)
        return 2
    port = free_port()
    procs = [subprocess.Popen([sys.executable, __file__, "--rank", str(r),
                               str(world), str(steps), str(warmup),
                               str(port), str(batch)],
                              stdout=None if r == 0 else subprocess.DEVNULL)
             for r in range(world)]
    # A process that fails leaves the others waiting in a collective.
    rc, deadline = 0, time.monotonic() + 600
    try:
        while any(p.poll() is None for p in procs):
            if (any(p.poll() not in (None, 0) for p in procs) or
                    time.monotonic() > deadline):
                rc = 1
                break
            time.sleep(0.05)
        if any(p.returncode != 0 for p in procs):
            rc = 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return rc


if __name__ == "__main__":
    sys.exit(main())

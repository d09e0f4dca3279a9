"""The raw collective a data-parallel step needs, with no model: sum one step's gradients (float32
tensors in the shapes of a Dense network's weights) over the processes, `--iters` times, and
print the median time per all-reduce. It imports nothing from trainkit.

    horovodrun -np 2 python raw_collective.py horovod --hidden 300 100     # Gloo, as trainkit's Horovod
    TF_CONFIG=... python raw_collective.py tf --hidden 300 100             # TF collective ops (MultiWorkerMirrored)

Each process pins itself to core <local rank> first when PIN_CORE_OF_RANK=1 (one core per process,
as the benchmark pins trainkit's workers). The last line printed by rank 0 is JSON.
"""
import argparse
import json
import os
import time


def shapes(inputs: int, hidden: list[int], outputs: int) -> list[tuple[int, ...]]:
    widths = [inputs, *hidden, outputs]
    return [s for a, b in zip(widths, widths[1:]) for s in ((a, b), (b,))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("backend", choices=["horovod", "tf"])
    p.add_argument("--hidden", type=int, nargs="+", default=[300, 100])
    p.add_argument("--iters", type=int, default=300)
    args = p.parse_args()
    rank = int(os.environ.get("HOROVOD_LOCAL_RANK", os.environ.get("RAW_RANK", "0")))
    if os.environ.get("PIN_CORE_OF_RANK") == "1":
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, [cores[rank % len(cores)]])
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.backend == "horovod":
        import horovod.tensorflow as hvd

        hvd.init()
        rank, size = hvd.rank(), hvd.size()

        @tf.function
        def reduce_once(gs):
            return hvd.grouped_allreduce(gs, op=hvd.Sum)
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=tf.distribute.experimental.CommunicationImplementation.RING))
        rank, size = strategy.cluster_resolver.task_id, strategy.num_replicas_in_sync

        @tf.function
        def reduce_once(gs):
            def replica_fn(values):   # as apply_gradients does: gradients computed on the replica
                return tf.distribute.get_replica_context().all_reduce("SUM", [v * 1.0 for v in values])

            return strategy.experimental_local_results(strategy.run(replica_fn, args=(gs,)))[0]

    grads = [tf.random.stateless_normal(s, seed=(1, i)) for i, s in enumerate(shapes(784, args.hidden, 10))]
    nbytes = sum(int(g.shape.num_elements()) * 4 for g in grads)
    times = []
    for i in range(args.iters + 20):   # the first 20 warm up (tracing, connections)
        t0 = time.perf_counter()
        out = reduce_once(grads)
        _ = out[-1].numpy()
        if i >= 20:
            times.append(time.perf_counter() - t0)
    times.sort()
    if rank == 0:
        print(json.dumps({"backend": args.backend, "processes": size, "bytes": nbytes,
                          "median_ms": 1000 * times[len(times) // 2], "p10_ms": 1000 * times[len(times) // 10]}),
              flush=True)


if __name__ == "__main__":
    main()

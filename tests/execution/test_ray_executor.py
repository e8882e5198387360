"""The Ray executor on a local Ray instance: the same rows as this process gives, and a Ray worker
killed mid-run recorded as an error row while the sweep goes on."""

import json
import os
import re
import signal
import threading
import time

import pytest

from bench.cli import main
from bench.store import read_rows

pytest.importorskip("ray")

ARGS = ["run", "-m", "lstm", "-t", "copy", "--seeds", "3", "-n", "300", "--val-every", "150", "-q",
        "-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8",
        "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]
SAME = ("status", "iterations_run", "final_val_loss", "best_val_loss", "spec_hash", "param_count")
WAIT_S = 300


def kill_first_run_to_start(out, killed: list) -> None:
    """Kill the process running the first run whose log appears (its pid is in the log's first line)."""
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        logs = sorted((out / "logs").glob("*.log")) if (out / "logs").is_dir() else []
        for log in logs:
            lines = log.read_text().splitlines()
            if len(lines) == 1 and "(pid " in lines[0]:  # started, not yet validated
                pid = int(lines[0].split("(pid ")[1].split()[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(log.stem)
                return
        time.sleep(0.02)


def by_seed(out):
    return {int(r["seed"]): r for r in read_rows(out / "runs.csv")}


def test_ray_rows_equal_local_rows_and_a_killed_ray_worker_is_an_error_row(tmp_path):
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main([*ARGS, "--out", str(local)]) == 0
    killed: list = []
    killer = threading.Thread(target=kill_first_run_to_start, args=(ray_out, killed), daemon=True)
    killer.start()
    assert main([*ARGS, "--out", str(ray_out), "--executor", "ray", "--jobs", "2"]) == 1  # a run failed
    killer.join()
    rows, expected = by_seed(ray_out), by_seed(local)
    assert sorted(rows) == [0, 1, 2] and len(killed) == 1
    lost = [r for r in rows.values() if r["run_id"] == killed[0]]
    assert len(lost) == 1 and lost[0]["status"] == "error"
    assert lost[0]["error"].startswith("worker process died: Ray reported")
    ray_node = re.compile(r"^\d+\.\d+\.\d+\.\d+/[0-9a-f]{56}$")  # NODE_IP/NODE_ID, the lost run's too
    assert all(ray_node.match(row["node"]) for row in rows.values()), [row["node"] for row in rows.values()]
    for seed, row in rows.items():
        if row is not lost[0]:
            assert {c: row[c] for c in SAME} == {c: expected[seed][c] for c in SAME}
    assert main([*ARGS, "--out", str(ray_out), "--resume"]) == 0  # the lost run, once
    assert sorted(int(r["seed"]) for r in read_rows(ray_out / "runs.csv") if r["status"] != "error") == [0, 1, 2]


def test_a_two_node_cluster_runs_the_grid_and_each_row_names_its_node(tmp_path):
    """Ray's own multi-node test cluster (two raylets on this machine, one CPU each): the tasks (ARMIN's
    vectorized seed group is one, each LSTM seed another) cannot all share a node, so the rows name
    both nodes, and they equal this process's rows."""
    from ray.cluster_utils import Cluster

    grid = ["run", "-m", "armin,lstm", "-t", "copy", "--seeds", "2", "-n", "20", "--val-every", "10", "-q",
            "--vectorize-seeds",
            "-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8",
            "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        node = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        assert main([*grid, "--out", str(tmp_path / "ray"), "--executor", "ray", "--address", cluster.address]) == 0
        nodes = {cluster.head_node.node_id, node.node_id}
    finally:
        cluster.shutdown()
    assert main([*grid, "--out", str(tmp_path / "local")]) == 0
    rows, expected = (by_run(tmp_path / out) for out in ("ray", "local"))
    assert {row["node"].rpartition("/")[2] for row in rows.values()} == nodes
    assert {key: {c: row[c] for c in (*SAME, "train_options")} for key, row in rows.items()} == \
        {key: {c: row[c] for c in (*SAME, "train_options")} for key, row in expected.items()}
    assert [json.loads(rows[("armin", s)]["train_options"]).get("vectorized") for s in (0, 1)] == [2, 2]
    assert rows[("armin", 0)]["node"] == rows[("armin", 1)]["node"]  # one task


def by_run(out):
    return {(r["model"], int(r["seed"])): {**r, "train_options": _without_out(r["train_options"])}
            for r in read_rows(out / "runs.csv")}


def _without_out(train_options: str) -> str:
    """train_options without output_dir (each sweep's --out folder)."""
    return json.dumps({k: v for k, v in json.loads(train_options).items() if k != "output_dir"}, sort_keys=True)

"""The SLURM profile on a real slurmctld: a one-node cluster on this machine (scripts/slurm-localhost.sh,
two fake GRES GPUs) runs a tiny configuration of the real pipeline -- data -> ground truth -> SASRec
-> SEG training (a GPU rule) -> SEG explanations (GPU) -> their text scores -- through
profiles/slurm, and the test asserts that

- every job was submitted with sbatch and ran as a SLURM job (job id in snakemake's log, the job's
  own SLURM log file, and the job COMPLETED in squeue under the rule's name);
- the GPU rules were submitted with a GPU request (`--gpus=fake:1` in the sbatch call, and
  `TresPerJob=gres:gpu:fake:1` as slurmctld recorded the job), the CPU rules without one;
- every deterministic output is byte-identical to the same DAG run locally (`--cores`);
- the HTML report (report.smk) of the local run builds, with its tables and benchmark summary.

Needs root (CI runs as root) and Debian's apt-get on the first run, to install munge and SLURM: if
the cluster cannot be brought up, the test fails with the reason. Every command runs under a
timeout; a failure ends the test, never hangs it. The cluster is stopped afterwards (unless it was
already running before the test started).

Runs in about 4-6 minutes on 2 cores (both DAGs run at once; the SLURM one pays ~5-10 s of polling
latency per DAG level).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SCRIPT = REPO / "scripts" / "slurm-localhost.sh"
LOCK = Path("/tmp/slurm-ci.lock")  # one test session at a time uses the machine's cluster
RUN_TIMEOUT = 900                  # seconds for one snakemake run (normally 3-5 min)

# The tiny DAG: one small synthetic Yelp, 2 SASRec epochs, 2 SEG training steps, 20 test cases.
CONFIG = {
    "datasets": {"y": {"format": "yelp", "synthetic": {"users": 150, "items": 200, "seed": 0}}},
    "preprocess": {"kcore": {"k": 5}, "test_subsample": 20},
    "sasrec": {"max_epochs": 2, "patience": 1},
    "methods": ["gt"],
    "seg": {"max_train_samples": 16, "batch_size": 8, "epochs": 1,
            "generate": {"batch_size": 8, "max_new_tokens": 8}},
}
TARGET = "results/metrics/y/text/seller.json"
RULES = {"prepare_backbone", "synthesize_raw_yelp", "ingest_yelp", "filter_and_split", "category_sequences",
         "embed_items", "gt_queries", "gt_assemble", "pretrain_sasrec", "train_seller", "explain_seller", "score_text"}
GPU_RULES = {"train_seller", "explain_seller"}
# Outputs that record the machine's clock (wall time, peak memory) rather than the computation;
# training histories are compared without their "seconds" fields (see fingerprint).
NOT_DETERMINISTIC = re.compile(r"^results/(logs|benchmarks)/|cost\.json$")


def ci_profile(dest: Path) -> Path:
    """profiles/slurm with only what this one-node cluster needs changed: squeue polling (no
    accounting here), fast status checks, sizes that fit a 2-CPU node, and the fake GPU type."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    for rule in GPU_RULES:
        assert profile["set-resources"][rule]["gpu"] == 1, f"profiles/slurm: {rule} is not put on a GPU"
    profile.update({
        "slurm-status-command": "squeue",            # required without slurmdbd (else snakemake hangs)
        "seconds-between-status-checks": 2,
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-keep-successful-logs": True,
        "latency-wait": 5,
        "jobs": 4,
        "verbose": True,                              # logs every sbatch call
    })
    profile["default-resources"].update(mem_mb=1500, runtime=30)
    for rule, res in profile["set-resources"].items():
        res.update(mem_mb=min(res.get("mem_mb", 1500), 3000), runtime=30)
        if "gpu" in res:
            res.update(cpus_per_gpu=1, gpu_model="fake")  # the node has 2 CPUs and gpu:fake:2
    out = dest / "profile"
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(profile))
    return out


def run(cmd, timeout, **kw):
    return subprocess.run(["timeout", "-k", "10", str(timeout), *cmd], capture_output=True, text=True,
                          timeout=timeout + 30, **kw)


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.fail("the SLURM test needs root (it installs and starts munge/slurmctld/slurmd); CI runs as root")
    lock = LOCK.open("w")
    deadline = time.monotonic() + 1200
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail(f"another test session held {LOCK} for 20 minutes")
            time.sleep(2)
    was_up = run(["bash", str(SCRIPT), "status"], 30).returncode == 0
    up = run(["bash", str(SCRIPT), "start"], 900)
    if up.returncode != 0:
        if not was_up:  # do not leave half-started daemons behind
            run(["bash", str(SCRIPT), "stop"], 120)
        fcntl.flock(lock, fcntl.LOCK_UN)
        pytest.fail(f"could not bring up SLURM on localhost (scripts/slurm-localhost.sh start, "
                    f"exit {up.returncode}):\n{up.stdout[-2000:]}\n{up.stderr[-3000:]}")
    try:
        yield
    finally:
        if not was_up:
            down = run(["bash", str(SCRIPT), "stop"], 120)
            assert down.returncode == 0, f"scripts/slurm-localhost.sh stop failed:\n{down.stderr[-2000:]}"
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), *args, "--", TARGET]


def _strip_seconds(obj):
    """Drop wall-time fields ("seconds") from a training history; keep everything else."""
    if isinstance(obj, dict):
        return {k: _strip_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, (list, tuple)):
        return [_strip_seconds(v) for v in obj]
    return obj


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes; for the two kinds of output that embed a training's wall time
    (history.json, and checkpoints that carry the history), of their content without it."""
    if path.name == "history.json":
        data = json.dumps(_strip_seconds(json.loads(path.read_text())), sort_keys=True).encode()
    elif path.suffix == ".pt":
        import torch

        h = hashlib.sha256()

        def feed(obj, key=""):
            if isinstance(obj, dict):
                for k in sorted(obj, key=str):
                    feed(obj[k], f"{key}/{k}")
            elif torch.is_tensor(obj):
                h.update(f"{key}:{obj.dtype}:{tuple(obj.shape)}".encode())
                h.update(obj.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            else:
                h.update(f"{key}={_strip_seconds(obj)!r}".encode())

        feed(torch.load(path, map_location="cpu", weights_only=False))
        return h.hexdigest()
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()


def digests(root: Path) -> dict[str, str]:
    out = {}
    for f in sorted((root / "results").rglob("*")):
        rel = f.relative_to(root).as_posix()
        if f.is_file() and not NOT_DETERMINISTIC.search(rel):
            out[rel] = fingerprint(f)
    return out


def test_tiny_dag_through_the_slurm_profile_equals_a_local_run(slurm_cluster, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for wd in (local, cluster):
        wd.mkdir()
        (wd / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    profile = ci_profile(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

    # both DAGs at once: the SLURM run mostly waits on polling, the local one fills the gaps
    t0 = time.monotonic()
    procs = {
        "slurm": subprocess.Popen(["timeout", "-k", "10", str(RUN_TIMEOUT),
                                   *snakemake_cmd(cluster, "--workflow-profile", str(profile))],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env),
        "local": subprocess.Popen(["timeout", "-k", "10", str(RUN_TIMEOUT),
                                   *snakemake_cmd(local, "--workflow-profile", "none", "--cores", "2")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env),
    }
    logs = {name: p.communicate(timeout=RUN_TIMEOUT + 60)[0] for name, p in procs.items()}
    elapsed = time.monotonic() - t0
    for name, p in procs.items():
        assert p.returncode == 0, f"{name} run failed (exit {p.returncode}; 124 = timed out):\n{logs[name][-6000:]}"
    log = logs["slurm"]
    print(f"both runs took {elapsed:.0f} s")

    # every job was submitted with sbatch, got a SLURM job id, and wrote its SLURM log
    submitted = {}  # slurm job id -> rule
    for jobid, logfile in re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", log):
        rule = re.search(r"slurm_logs/rule_(\w+?)/", logfile)[1]
        submitted[jobid] = rule
        assert Path(logfile).is_file(), f"no SLURM log {logfile} for job {jobid} ({rule})"
        assert f"--target-jobs '{rule}" in Path(logfile).read_text(), f"{logfile} is not the {rule} job"
    assert sorted(submitted.values()) == sorted(RULES), \
        f"jobs submitted to SLURM: {sorted(submitted.values())}, expected one per rule: {sorted(RULES)}"
    assert "Job stats:" in log and re.search(r"^total\s+12$", log, flags=re.M), "the DAG is not the expected 12 jobs"

    # slurmctld knows each of them, COMPLETED, under the rule's name (squeue keeps them for MinJobAge)
    q = run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"], 30)
    assert q.returncode == 0, q.stderr
    states = {i: (state, comment) for i, state, comment in (line.split("|", 2) for line in q.stdout.split())}
    for jobid, rule in submitted.items():
        assert jobid in states, f"SLURM job {jobid} ({rule}) unknown to squeue"
        state, comment = states[jobid]
        assert state == "COMPLETED" and comment.startswith(f"rule_{rule}"), (jobid, rule, state, comment)

    # the GPU rules asked for a GPU, and SLURM allocated one
    sbatch_calls = re.findall(r"^sbatch call: (sbatch .*?--comment rule_(\w+?)(?:_wildcards\S*)? .*)$", log, flags=re.M)
    assert {rule for _, rule in sbatch_calls} == RULES, "an sbatch call is missing from the verbose log"
    for call, rule in sbatch_calls:
        head = call.split("--wrap")[0]
        if rule in GPU_RULES:
            assert "--gpus=fake:1" in head, f"{rule} was submitted without a GPU request: {head}"
        else:
            assert "--gpus" not in head and "--gres" not in head, f"{rule} (CPU rule) asked for a GPU: {head}"
    for jobid, rule in submitted.items():
        show = run(["scontrol", "show", "job", jobid], 30).stdout
        has_gpu = re.search(r"TresPerJob=\S*gres:gpu:fake:1\b", show) is not None
        assert has_gpu == (rule in GPU_RULES), f"job {jobid} ({rule}): GPU request recorded by slurmctld: {has_gpu}\n{show}"

    # same bytes as the local run
    got, want = digests(cluster), digests(local)
    assert TARGET in want and "results/explanations/y/seller.parquet" in want
    assert got.keys() == want.keys(), f"outputs differ: {sorted(got.keys() ^ want.keys())}"
    differ = sorted(k for k in want if got[k] != want[k])
    assert not differ, f"outputs of the SLURM run differ from the local run's: {differ}"

    # the HTML report of the local run builds (report.smk: tables, benchmark summary, rule graph)
    report_cmd = [SNAKEMAKE, "-s", str(REPO / "report.smk"), "--directory", str(local),
                  "--configfile", str(local / "config.yaml"), "--workflow-profile", "none"]
    assets = run([*report_cmd, "--cores", "1", "--", "report_assets"], 600, env=env)
    assert assets.returncode == 0, assets.stderr[-4000:]
    html = local / "results/report.html"
    rep = run([*report_cmd, "--report", str(html), "--", TARGET, "report_assets"], 600, env=env)
    assert rep.returncode == 0 and html.stat().st_size > 100_000, rep.stderr[-4000:]
    with open(local / "results/report/benchmarks.csv") as f:
        rules = {line.split(",")[0] for line in f.read().split()[1:]}
    assert rules == {d.name for d in (local / "results/benchmarks").iterdir()}, rules  # one row per benchmarked rule
    assert (local / "results/report/tables/table1.csv").is_file()


def test_a_failing_slurm_job_ends_the_run_with_its_error(slurm_cluster, tmp_path):
    """Failure path: a job that fails inside SLURM (k-core filtering empties a 3-user dataset) ends
    the run promptly with a non-zero exit -- no hang, no timeout -- and its SLURM log holds the error."""
    wd = tmp_path / "wd"
    wd.mkdir()
    config = {"datasets": {"y": {"format": "yelp", "synthetic": {"users": 3, "items": 3, "seed": 0}}}}
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    profile = ci_profile(tmp_path)
    t0 = time.monotonic()
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(wd), "--configfile", str(wd / "config.yaml"),
           "--workflow-profile", str(profile), "--", "results/data/y/stats.json"]
    r = run(cmd, 600, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    out = r.stdout + r.stderr
    assert r.returncode not in (0, 124, 137), f"exit {r.returncode} (124/137 = it hung until the timeout):\n{out[-4000:]}"
    assert re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", out), out[-4000:]
    failed = re.search(r"slurm_logs/rule_filter_and_split/y/(\d+)\.log", out)
    assert failed, f"no SLURM log named for the failed filter_and_split job:\n{out[-4000:]}"
    job_log = next((wd / ".snakemake/slurm_logs/rule_filter_and_split/y").glob("*.log")).read_text()
    rule_log = (wd / "results/logs/filter_and_split/y.log").read_text()
    assert "no interactions left after" in job_log + rule_log, f"the failed job's logs lack the reason:\n{job_log[-3000:]}"
    assert time.monotonic() - t0 < 300

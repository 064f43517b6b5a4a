"""Runs real jobs through a deployed gateway and checks what a user sees.

Usage: jobs.py URL COUNT IDS_FILE

Submits COUNT short media jobs (5 s, 720p) at once, waits until every one
has finished, and fails unless all of them are Done. Then checks the parts
of the deployment a user relies on: a video made by a worker is served by
the gateway from the shared artifacts volume, and the web UI is served.
Writes the job ids to IDS_FILE, one a line. Standard library only.
"""

import json
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_S = 240
TERMINAL = {"Done", "Failed", "Canceled"}


def request(url, method="GET", body=None):
    """Returns (status, headers, body bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def fail(message):
    print(f"jobs: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 4:
        fail(__doc__.split("\n\n")[1])
    base, count, ids_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    started = time.monotonic()
    jobs = []
    for n in range(count):
        spec = {"brief": {"topic": f"Container deployment check {n + 1}",
                          "audience": "Operators"},
                "planSpec": {"targetDuration": 5, "pacing": "Fast",
                             "density": "Sparse"},
                "renderSpec": {"res": "720p", "fps": 24, "qualityLevel": 20}}
        status, _, body = request(f"{base}/api/jobs", "POST", spec)
        if status != 202:
            fail(f"POST /api/jobs answered {status}: {body[:300]!r}")
        jobs.append(json.loads(body)["jobId"])
    with open(ids_file, "w", encoding="utf-8") as out:
        out.write("".join(f"{job}\n" for job in jobs))

    final = {}
    deadline = time.monotonic() + TIMEOUT_S
    while len(final) < len(jobs):
        if time.monotonic() > deadline:
            waiting = [j for j in jobs if j not in final]
            fail(f"{len(waiting)} job(s) unfinished after {TIMEOUT_S} s: "
                 f"{' '.join(waiting)}")
        for job in jobs:
            if job in final:
                continue
            status, _, body = request(f"{base}/api/jobs/{job}")
            if status != 200:
                fail(f"GET /api/jobs/{job} answered {status}")
            snapshot = json.loads(body)
            if snapshot.get("status") in TERMINAL:
                final[job] = snapshot
                print(f"jobs: {job} {snapshot['status']} after "
                      f"{time.monotonic() - started:.1f} s "
                      f"(attempt {snapshot.get('attempt')})")
        time.sleep(0.5)

    not_done = {j: s for j, s in final.items() if s.get("status") != "Done"}
    for job, snapshot in not_done.items():
        print(f"jobs: {job}: {json.dumps(snapshot.get('error'))}",
              file=sys.stderr)
    if not_done:
        fail(f"{len(not_done)} of {len(jobs)} job(s) did not finish Done")

    status, headers, video = request(
        f"{base}/api/jobs/{jobs[0]}/artifacts/video.mp4")
    if status != 200 or video[4:8] != b"ftyp":
        fail(f"video.mp4 of {jobs[0]}: status {status}, "
             f"{len(video)} bytes, not an MP4 file")
    if not headers.get("Content-Type", "").startswith("video/mp4"):
        fail(f"video.mp4 served as {headers.get('Content-Type')}")
    status, headers, page = request(f"{base}/")
    if status != 200 or b"<html" not in page.lower():
        fail(f"the web UI at / answered {status}")
    print(f"jobs: {len(jobs)} Done in {time.monotonic() - started:.1f} s; "
          f"video.mp4 {len(video)} bytes and the web UI served")


if __name__ == "__main__":
    main()

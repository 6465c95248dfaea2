"""CPU per intake request, in process (prints figures; asserts nothing).

    .venv/bin/python bench/intake_cpu.py [--requests N] [--rounds R]

Where bench/intake.py measures throughput over HTTP against PostgreSQL, this measures what one
request costs the server's CPU: the app runs in this process on a fresh SQLite file, and the Flask
test client posts the same realistic detections (bench/intake.py's) one per request, in batches
of 100, and as refused bodies (an invalid `occurred_at`: authentication, parsing and validation
only, nothing written). Each figure is process CPU time over the requests divided by their count,
the best of R rounds (each round on fresh subjects), so a change to validation shows against the
rest of the request.
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intake import BATCH_SIZE, bodies  # noqa: E402  (bench/intake.py)

from app import create_app  # noqa: E402
from cases.accounts.service import create_api_key  # noqa: E402
from cases.core import migrate  # noqa: E402
from cases.core.db import make_engine  # noqa: E402
from cases.enums import ApiScope  # noqa: E402


def cpu_per_request(client, path: str, payloads: list[bytes], key: str, status: int) -> float:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    began = time.process_time()
    for body in payloads:
        response = client.post(path, data=body, headers=headers)
        if response.status_code != status:
            sys.exit(f"{path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return (time.process_time() - began) / len(payloads)


def refused(payloads: list[bytes]) -> list[bytes]:
    """The same bodies with an `occurred_at` no validator accepts."""
    out = []
    for body in payloads:
        item = json.loads(body)
        item["occurred_at"] = "yesterday"
        out.append(json.dumps(item).encode())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="single requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="docket-cpu-") as folder:
        url = f"sqlite:///{folder}/docket.db"
        engine = make_engine(url)
        migrate.upgrade(engine)
        with Session(engine) as session:
            _, key = create_api_key(session, name="bench", scopes=[ApiScope.detections_write])
            session.commit()
        engine.dispose()
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": f"{folder}/instance",
                "SECRET_KEY": "bench",
                "RATELIMIT_ENABLED": False,
                "REDIS_URL": None,
            }
        )
        client = app.test_client()
        rng = random.Random(2026)
        warm = bodies(rng, 20, 1, 10**9)
        cpu_per_request(client, "/api/v1/detections", warm, key, 201)
        best = {"single": [], "batch": [], "refused": []}
        for round_ in range(args.rounds):
            serial = round_ * 10 * args.requests
            single = bodies(rng, args.requests, 1, serial)
            batches = bodies(rng, BATCH_SIZE * 3, BATCH_SIZE, serial + args.requests)
            best["single"].append(
                cpu_per_request(client, "/api/v1/detections", single, key, 201) * 1000
            )
            best["batch"].append(
                cpu_per_request(client, "/api/v1/detections/batch", batches, key, 207)
                * 1000
                / BATCH_SIZE
            )
            best["refused"].append(
                cpu_per_request(client, "/api/v1/detections", refused(single), key, 422) * 1000
            )
        app.extensions["docket.db"].dispose()

    print(f"python {sys.version.split()[0]}, SQLite, in-process test client, best of {args.rounds}")
    print(f"one detection per request        {min(best['single']):7.3f} ms CPU per request")
    print(f"batches of {BATCH_SIZE} (per detection)     {min(best['batch']):7.3f} ms CPU")
    print(f"refused (validation, 422)        {min(best['refused']):7.3f} ms CPU per request")


if __name__ == "__main__":
    main()

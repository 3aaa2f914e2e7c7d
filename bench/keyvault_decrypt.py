"""`make bench-keyvault`: keyvault Decrypt throughput over mTLS gRPC, as a ratio to OpenSSL.

Starts a real NATS and a real keyvault process (audit to a file, as in production), drives
Decrypt from N concurrent local callers, measures keyvault's own CPU time, and runs
`openssl speed rsa<bits>` in the same run as the reference. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from procstats import cpu_seconds, free_port  # bench/ is on sys.path: it is the script's folder

from keyvault.keys import generate_key
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.envelope import Binding, OwnerType, seal
from switchyard_common.mtls import TLSFiles, channel_credentials
from switchyard_dev.pki import ensure_dev_pki

BIN = Path(sys.executable).parent


def openssl_private_ops_per_second(bits: int, seconds: int) -> float:
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), f"rsa{bits}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(rf"^rsa\s+{bits} bits\s+\S+s\s+\S+s\s+([\d.]+)", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"cannot read openssl speed output:\n{out}")
    return float(match.group(1))


def wait_serving(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    raise RuntimeError("keyvault did not become SERVING")


async def drive(
    port: int, files: TLSFiles, concurrency: int, warmup: float, duration: float, keyvault_pid: int
) -> tuple[int, float, float]:
    """Returns (decrypts in the window, window seconds, keyvault CPU seconds in the window)."""
    async with aio.secure_channel(f"localhost:{port}", channel_credentials(files)) as channel:
        vault = keyvault_pb2_grpc.KeyVaultStub(channel)
        public = await vault.GetPublicKey(keyvault_pb2.GetPublicKeyRequest())
        key = serialization.load_pem_public_key(public.public_key_pem.encode())
        assert isinstance(key, rsa.RSAPublicKey)
        binding = Binding("bench-credential", OwnerType.USER, "bench-user", "openai")
        request = keyvault_pb2.DecryptRequest(
            envelope=seal(b"sk-bench-" + b"x" * 48, public_key=key, kid=public.kid, binding=binding),
            binding=keyvault_pb2.Binding(
                credential_id="bench-credential",
                owner_type=keyvault_pb2.OWNER_TYPE_USER,
                owner_id="bench-user",
                provider="openai",
            ),
        )
        counting = False
        done = 0
        stop_at = time.monotonic() + warmup + duration

        async def caller() -> None:
            nonlocal done
            while time.monotonic() < stop_at:
                await vault.Decrypt(request)
                if counting:
                    done += 1

        tasks = [asyncio.create_task(caller()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        counting, cpu0, t0 = True, cpu_seconds(keyvault_pid), time.monotonic()
        await asyncio.sleep(duration)
        counting, cpu1, t1 = False, cpu_seconds(keyvault_pid), time.monotonic()
        await asyncio.gather(*tasks)
    return done, t1 - t0, cpu1 - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bits", type=int, default=3072, choices=(2048, 3072, 4096))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-keyvault-") as tmp:
        work = Path(tmp)
        ensure_dev_pki(work / "pki")
        generate_key(work / "keys", bits=args.bits)
        nats_port, port, health_port = free_port(), free_port(), free_port()
        pki = work / "pki"
        env = {
            **os.environ,
            "KEYVAULT_PORT": str(port),
            "KEYVAULT_HEALTH_PORT": str(health_port),
            "KEYVAULT_KEYS_DIR": str(work / "keys"),
            "KEYVAULT_NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "KEYVAULT_TLS_CA_FILE": str(pki / "ca.pem"),
            "KEYVAULT_TLS_CERT_FILE": str(pki / "keyvault.pem"),
            "KEYVAULT_TLS_KEY_FILE": str(pki / "keyvault-key.pem"),
            "KEYVAULT_AUDIT_SINK": str(work / "audit.jsonl"),
            "KEYVAULT_LOG_LEVEL": "WARNING",
            "KEYVAULT_RATE_LIMIT_PER_SECOND": "1000000",
            "KEYVAULT_RATE_LIMIT_BURST": "1000000",
        }
        nats = subprocess.Popen(
            [
                str(BIN / "nats-server"),
                "-a",
                "127.0.0.1",
                "-p",
                str(nats_port),
                "-js",
                "-sd",
                str(work / "nats"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        keyvault = subprocess.Popen([str(BIN / "python"), "-m", "keyvault"], env=env)
        try:
            wait_serving(health_port)
            router = TLSFiles(ca=pki / "ca.pem", cert=pki / "router.pem", key=pki / "router-key.pem")
            done, window, cpu = asyncio.run(
                drive(
                    port, router, args.concurrency, warmup=2, duration=args.seconds, keyvault_pid=keyvault.pid
                )
            )
        finally:
            keyvault.terminate()
            keyvault.wait(timeout=30)
            nats.terminate()
            nats.wait(timeout=30)
        reference = openssl_private_ops_per_second(args.bits, seconds=max(3, int(args.seconds / 2)))

    throughput = done / window
    cores = cpu / window
    per_core = throughput / cores if cores else float("nan")
    print(
        f"keyvault Decrypt, RSA-{args.bits}, mTLS gRPC, {args.concurrency} concurrent callers, "
        f"{window:.1f}s window, audit to file"
    )
    print(f"  throughput            {throughput:10.1f} decrypts/s")
    print(f"  keyvault CPU          {cores:10.2f} cores used")
    print(f"  per core used         {per_core:10.1f} decrypts/s/core")
    print(f"  openssl speed rsa{args.bits} {reference:10.1f} private-key ops/s (one core, same run)")
    print(f"  ratio per core used   {per_core / reference:10.2f}  (target >= 0.70)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

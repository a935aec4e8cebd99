"""Host samples: one psutil reading of CPU, memory, swap, disks, load, network and disk I/O rates, and this process,
stored as a `SystemSample` (beat runs `monitoring.sample_host` every `MONITORING_SAMPLE_SECONDS`).

I/O rates are differences of psutil's cumulative counters between two samples; the previous counters are kept in the
shared cache per host (the first sample after a restart reports 0). The configuration's `monitoring_enabled` turns
sampling off. Raw samples are pruned after `MONITORING_SAMPLE_RETENTION_HOURS`, in batches.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

import psutil
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from monitoring.models import SystemSample
from workflows.configuration import current_config

CPU_INTERVAL_SECONDS = 0.25
PRUNE_BATCH = 5000
_COUNTERS_KEY = "monitoring:io-counters:{host}"


def host_name() -> str:
    return socket.gethostname()


def monitoring_enabled() -> bool:
    return current_config().monitoring_enabled


def mount_of(path: str) -> str:
    """The mount point holding `path` (the longest mount point that is a prefix of it)."""
    resolved = str(Path(path).resolve())
    mounts = sorted((p.mountpoint for p in psutil.disk_partitions(all=True)), key=len, reverse=True)
    for mount in mounts:
        if resolved == mount or resolved.startswith(mount.rstrip("/") + "/"):
            return mount
    return "/"


def disk_usage() -> dict[str, float]:
    """{mount: percent used} of the file systems holding `MONITORED_DISKS` (each mount once)."""
    usage: dict[str, float] = {}
    for path in settings.MONITORED_DISKS:
        try:
            mount = mount_of(path)
            usage.setdefault(mount, psutil.disk_usage(mount).percent)
        except OSError:
            continue
    return usage


def _io_rates(host: str) -> dict[str, float]:
    net = psutil.net_io_counters()
    disk = psutil.disk_io_counters()
    now = time.time()
    counters = {
        "at": now,
        "net_sent": float(net.bytes_sent) if net else 0.0,
        "net_received": float(net.bytes_recv) if net else 0.0,
        "disk_read": float(disk.read_bytes) if disk else 0.0,
        "disk_written": float(disk.write_bytes) if disk else 0.0,
    }
    key = _COUNTERS_KEY.format(host=host)
    previous = cache.get(key)
    cache.set(key, counters, timeout=3600)
    if not previous or now <= previous["at"]:
        return dict.fromkeys(("net_sent", "net_received", "disk_read", "disk_written"), 0.0)
    elapsed = now - previous["at"]
    return {name: max(0.0, (counters[name] - previous[name]) / elapsed) for name in counters if name != "at"}


def take_sample() -> SystemSample | None:
    """Read the host and store one sample; None when monitoring is switched off in the configuration."""
    if not monitoring_enabled():
        return None
    host = host_name()
    process = psutil.Process(os.getpid())
    process.cpu_percent(None)  # primes the process counter; the next call covers the CPU interval below
    cpu = psutil.cpu_percent(interval=CPU_INTERVAL_SECONDS)
    load1, load5, load15 = psutil.getloadavg()
    rates = _io_rates(host)
    return SystemSample.objects.create(
        host=host,
        taken_at=timezone.now(),
        cpu_percent=cpu,
        memory_percent=psutil.virtual_memory().percent,
        swap_percent=psutil.swap_memory().percent,
        disk_percent=disk_usage(),
        load1=load1,
        load5=load5,
        load15=load15,
        net_sent_bytes_per_second=rates["net_sent"],
        net_received_bytes_per_second=rates["net_received"],
        disk_read_bytes_per_second=rates["disk_read"],
        disk_written_bytes_per_second=rates["disk_written"],
        process_cpu_percent=process.cpu_percent(None),
        process_rss_bytes=process.memory_info().rss,
    )


def latest_samples() -> list[SystemSample]:
    """The newest sample of each host seen within the retention period (one query per host, hosts are few)."""
    since = timezone.now() - timedelta(hours=settings.MONITORING_SAMPLE_RETENTION_HOURS)
    hosts = SystemSample.objects.filter(taken_at__gte=since).order_by().values_list("host", flat=True).distinct()
    latest = (SystemSample.objects.filter(host=host).order_by("-taken_at").first() for host in sorted(hosts))
    return [sample for sample in latest if sample is not None]


def prune_samples(batch_size: int = PRUNE_BATCH) -> int:
    """Delete samples older than the retention period, `batch_size` rows per statement; returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.MONITORING_SAMPLE_RETENTION_HOURS)
    deleted = 0
    while True:
        ids = list(SystemSample.objects.filter(taken_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += SystemSample.objects.filter(pk__in=ids).delete()[0]

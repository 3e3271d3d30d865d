"""A Fast DDS shared-memory segment large enough for a burst of camera images.

Fast DDS (ROS 2's default middleware) hands same-host samples over through a shared-memory
segment per participant, 512 KB by default. A process that publishes several uncompressed
images at once overruns it: ``sim_cameras`` publishes a frame set of 4 x 230 KB images
(320x240 RGB) in one burst, the first image's buffer is recycled before the subscriber has
read it, and the reliable protocol delivers that image again later. Measured with an idle
subscriber: cam0 (always the first of the burst) arrived 520 ms late at the median and up
to 4 s late; cam1-3 within 17 ms. A time synchroniser then declares that camera absent,
and its late images stale. With a 32 MB segment all four arrived within 4 ms. The node's
own bursts (a cloud of several MB, markers, humans) are in the same situation.

So our executables, when they run on Fast DDS and the user has not configured Fast DDS
themselves (``FASTDDS_DEFAULT_PROFILES_FILE``, its older name ``FASTRTPS_DEFAULT_PROFILES_FILE``,
``FASTDDS_BUILTIN_TRANSPORTS``, or a ``DEFAULT_FASTDDS_PROFILES.xml`` /
``DEFAULT_FASTRTPS_PROFILES.xml`` in the working folder, which Fast DDS loads by itself),
start with a default participant profile that keeps
Fast DDS's transports (shared memory and UDPv4) and only enlarges the segment.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import MutableMapping, Optional

#: Shared-memory segment per participant: a burst of 8 cameras of 1280x720 RGB images.
SHM_SEGMENT_BYTES = 32 * 1024 * 1024

FAST_DDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")

_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<!-- Written by hamst3r_ros (hamst3r_ros/ros/transport.py): Fast DDS's default transports,
     with a shared-memory segment large enough for a burst of camera images. -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>hamst3r_shm</transport_id>
        <type>SHM</type>
        <segment_size>{segment}</segment_size>
      </transport_descriptor>
      <transport_descriptor>
        <transport_id>hamst3r_udp</transport_id>
        <type>UDPv4</type>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="hamst3r_default" is_default_profile="true">
      <rtps>
        <userTransports>
          <transport_id>hamst3r_shm</transport_id>
          <transport_id>hamst3r_udp</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


def fastdds_profile(segment_bytes: int = SHM_SEGMENT_BYTES) -> str:
    """The XML of the participant profile (see the module docstring)."""
    return _PROFILE.format(segment=int(segment_bytes))


#: What tells us that the user configured Fast DDS: environment variables, and the files Fast
#: DDS reads from the working folder when no variable is set.
USER_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                          "FASTDDS_BUILTIN_TRANSPORTS")
USER_PROFILE_FILES = ("DEFAULT_FASTDDS_PROFILES.xml", "DEFAULT_FASTRTPS_PROFILES.xml")


def use_large_shm_segment(env: Optional[MutableMapping[str, str]] = None,
                          segment_bytes: int = SHM_SEGMENT_BYTES, cwd: Optional[Path] = None) -> Optional[str]:
    """Before ``rclpy.init``: point ``FASTDDS_DEFAULT_PROFILES_FILE`` at our profile.

    Leaves everything as it is (returns None) when the middleware is not Fast DDS or the
    user already gave Fast DDS a profile (see ``USER_PROFILE_*``; ``cwd``: the working folder,
    default the current one). Otherwise writes the profile once per user into the temporary
    folder and returns its path.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if any(env.get(v) for v in USER_PROFILE_VARIABLES) or any((cwd / f).is_file() for f in USER_PROFILE_FILES):
        return None
    if env.get("RMW_IMPLEMENTATION", FAST_DDS_RMWS[0]) not in FAST_DDS_RMWS:
        return None
    path = Path(tempfile.gettempdir()) / f"hamst3r_fastdds_{os.getuid()}_{int(segment_bytes)}.xml"
    text = fastdds_profile(segment_bytes)
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: two processes starting together never read half a file
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(path)
    return str(path)

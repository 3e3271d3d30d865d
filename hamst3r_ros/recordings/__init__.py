"""Recordings that ``sim_cameras`` plays, and the bags ``hamst3r demo --record`` writes (no ROS).

- :mod:`.frames`: frame-set recordings (a folder of images per camera, a synthetic scene),
  published at a chosen rate and stamped when published;
- :mod:`.bag_reader`: a rig's camera topics from a ROS 2 bag (.mcap, .db3), played at the
  recorded rate or a multiple of it;
- :mod:`.bag_writer` and :mod:`.bag_types`: writing bags with every topic's type and definition.

The ROS layer (``hamst3r_ros/ros/sim_cameras.py``, ``ros/bag_record.py``) only converts and schedules.
"""
from hamst3r_ros.recordings.bag_reader import BagCamera, BagMessage, BagPlayer, BagRecording, find_cameras
from hamst3r_ros.recordings.bag_writer import BagError, BagWriter
from hamst3r_ros.recordings.frames import FolderRecording, SimCamera, SyntheticRecording, read_calibration

__all__ = ["BagCamera", "BagError", "BagMessage", "BagPlayer", "BagRecording", "BagWriter", "FolderRecording",
           "SimCamera", "SyntheticRecording", "find_cameras", "read_calibration"]

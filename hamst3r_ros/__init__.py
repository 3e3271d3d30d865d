"""hamst3r_ros: HAMSt3R (human-aware multi-view 3D reconstruction) as a live ROS 2 node.

Everything outside ``hamst3r_ros.ros`` imports and runs without ROS.
"""

__version__ = "0.1.0"

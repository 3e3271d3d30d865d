"""hamst3r_ros as an ament_python package.

Works two ways: `colcon build` inside a ROS 2 workspace (with hamst3r_msgs beside it), and
`pip install -e .` into the project's own venv (scripts/setup.sh). Dependencies are declared
in package.xml (ROS) and requirements.txt (venv); none are listed here so that neither
install path pulls packages behind the other's back.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "hamst3r_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["assets/*", "assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    zip_safe=False,
    maintainer="hamst3r_ros maintainers",
    maintainer_email="maintainers@example.com",
    description="HAMSt3R human-aware multi-view 3D reconstruction as a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "hamst3r = hamst3r_ros.cli:main",
            "hamst3r_node = hamst3r_ros.ros.process:hamst3r_node_main",
            "sim_cameras = hamst3r_ros.ros.process:sim_cameras_main",
        ],
    },
)

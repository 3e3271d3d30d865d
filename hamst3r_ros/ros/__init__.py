"""The ROS 2 layer of hamst3r_ros: message conversions, parameters, launch layout, nodes.

Only this package imports rclpy and ROS message types; everything outside it runs without
ROS. Submodules are imported explicitly (``from hamst3r_ros.ros import params``) so that
importing this package costs nothing and never requires a ROS install by itself.

Modules:
    conversions   numpy <-> ROS messages (images, point clouds, humans, TF, people)
    params        the node's parameters: defaults, types, descriptions, validation
    launch_spec   node names, executables, parameter files and remaps in one place
    sim_cameras   the node that plays recordings (hamst3r_ros.recordings) as camera drivers would
    sim_params    sim_cameras' parameters (ParamSpec tables, as params)
    bag_record    recording topics to a ROS 2 bag (hamst3r demo --record)
"""

"""Multi-view fusion: from pairwise pointmaps to one scene in the fixed frame.

Modules (each one job):
    sim3          closed-form weighted (robust) Umeyama/Procrustes, rotation helpers
    focal         focal length from a camera-frame pointmap (Weiszfeld), intrinsics rescaling
    pair_graph    which image pairs to run through the network (complete, reference,
                  sliding window, confidence-based)
    alignment     global alignment (cold start) and incremental alignment (warm start)
    depth_refine  depth corrected from triangulated pixel matches (a smooth field per view)
    fusion        fused point cloud: confidence threshold, voxel grid, point budget
    metrics       camera metrics of the paper (RRA, RTA, CCA, s-CCA, TE, s-TE, AE, mAA)
    box_room      an analytic box-room scene with exact pairwise pointmaps (tests, eval)
    distortion    lens distortion models of CameraInfo; undistortion maps (cached) and remap

Everything here is numpy (float64 internally); nothing imports ROS or torch.
"""
